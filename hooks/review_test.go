package hooks

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
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
