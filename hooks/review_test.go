package hooks

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/review"
)

func TestReviewComments(t *testing.T) {
	t.Parallel()
	f := githubtest.New(t, "..")
	work := gittest.Init(t)
	base := gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
	shop := func(patches ...testutil.Patch) []byte {
		return testutil.Marshal(t, testutil.Apply(t, testutil.LoadJSON(t, filepath.Join("../fixtures/repo/workflows/shop.json")), patches...))
	}
	head1 := gittest.Commit(t, work, "Scale web", map[string][]byte{"workflows/shop.json": shop(testutil.Set("/nodes/3/data/replicas", 5))})
	head2 := gittest.Commit(t, work, "Break the api port", map[string][]byte{"workflows/shop.json": shop(testutil.Set("/nodes/4/data/port", 70000))})
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := must(NewReviewer(ReviewerConfig{Source: repo, Compiler: c, GitHubToken: "test-token", GitHubAPIURL: f.URL}))(t)

	if err := r.Review(t.Context(), ReviewJob{Repo: "octo/shop", Number: 7, BaseCommit: base, HeadCommit: head1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Review(t.Context(), ReviewJob{Repo: "octo/shop", Number: 7, BaseCommit: base, HeadCommit: head2}); err != nil {
		t.Fatal(err)
	}
	comments := f.Comments()
	if len(comments) != 1 {
		t.Fatalf("%d comments, want one edited in place", len(comments))
	}
	for _, body := range comments {
		if !strings.HasPrefix(body, reviewMarker) || !strings.Contains(body, "does not validate") || !strings.Contains(body, "must be 1..65535") {
			t.Errorf("the comment does not show the second head's problem:\n%.400s", body)
		}
	}
	if statuses := f.Statuses(); fmt.Sprint(statuses) != "[success failure]" {
		t.Errorf("statuses %v, want [success failure]", statuses)
	}
	want := "GET /repos/{owner}/{repo}/issues/{issue_number}/comments|POST /repos/{owner}/{repo}/issues/{issue_number}/comments|POST /repos/{owner}/{repo}/statuses/{sha}|" +
		"GET /repos/{owner}/{repo}/issues/{issue_number}/comments|PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}|POST /repos/{owner}/{repo}/statuses/{sha}"
	if got := strings.Join(f.Requests(), "|"); got != want {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.ReplaceAll(got, "|", "\n"), strings.ReplaceAll(want, "|", "\n"))
	}
}

// TestReviewDryRunNotes reviews a change with clusters the service cannot
// dry-run against: a kubeconfig that cannot be read gives each cluster of
// the change a note, no context for them leaves the dry-run out, and the
// review posts either way.
func TestReviewDryRunNotes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		clusters func([]string) (map[string]*rest.Config, error)
		want     string // in the comment; empty for no dry-run section
	}{
		{
			name: "unreadable kubeconfig",
			clusters: func([]string) (map[string]*rest.Config, error) {
				return nil, errors.New("kubeconfig /nowhere: no such file")
			},
			want: "#### Dry-run against the clusters\n\n**prod**: not dry-run: kubeconfig /nowhere: no such file\n",
		},
		{
			name:     "no context",
			clusters: func([]string) (map[string]*rest.Config, error) { return map[string]*rest.Config{}, nil },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubtest.New(t, "..")
			work := gittest.Init(t)
			base := gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
			shop := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/repo/workflows/shop.json"), testutil.Set("/nodes/3/data/replicas", 5))
			head := gittest.Commit(t, work, "Scale web", map[string][]byte{"workflows/shop.json": testutil.Marshal(t, shop)})
			repo := must(gitrepo.Open(t.Context(), work, gitrepo.Options{}))(t)
			c := must(compiler.New(compiler.DefaultOptions()))(t)
			r := must(NewReviewer(ReviewerConfig{Source: repo, Compiler: c, GitHubToken: "test-token", GitHubAPIURL: f.URL,
				Clusters: tc.clusters, DryRun: review.DryRunOptions{FluxNamespace: "flux-system"}}))(t)
			if err := r.Review(t.Context(), ReviewJob{Repo: "octo/shop", Number: 7, BaseCommit: base, HeadCommit: head}); err != nil {
				t.Fatal(err)
			}
			for _, body := range f.Comments() {
				if tc.want == "" && strings.Contains(body, "Dry-run") || !strings.Contains(body, tc.want) {
					t.Errorf("comment:\n%s\nwant it to hold %q", body, tc.want)
				}
			}
			if statuses := f.Statuses(); fmt.Sprint(statuses) != "[success]" {
				t.Errorf("statuses %v, want [success]", statuses)
			}
		})
	}
	_, err := NewReviewer(ReviewerConfig{Source: &gitrepo.Repo{}, Compiler: &compiler.Compiler{}, GitHubToken: "test-token",
		Clusters: func([]string) (map[string]*rest.Config, error) { return nil, nil }})
	if err == nil || !strings.Contains(err.Error(), "the Flux namespace is required") {
		t.Errorf("a reviewer that dry-runs without a Flux namespace: %v", err)
	}
}
