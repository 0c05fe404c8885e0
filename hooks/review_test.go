package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-github/v60/github"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// githubSpec is GitHub's REST API description, loaded once.
var githubSpec = sync.OnceValues(func() (*openapi3.T, error) {
	l := openapi3.NewLoader()
	return l.LoadFromFile("../.tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json")
})

// fakeGitHub is a loopback GitHub that checks every request against
// GitHub's REST description before it answers, and keeps issue comments.
type fakeGitHub struct {
	t        *testing.T
	router   routers.Router
	mu       sync.Mutex
	comments map[int64]string
	next     int64
	requests []string
	statuses []string
}

func newFakeGitHub(t *testing.T) (*fakeGitHub, *httptest.Server) {
	t.Helper()
	if _, err := os.Stat("../.tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json"); err != nil {
		msg := "SKIPPED LOUDLY: GitHub's REST description is missing (make tools installs @octokit/openapi)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	spec, err := githubSpec()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGitHub{t: t, comments: map[int64]string{}, next: 100}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	doc := *spec
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	if f.router, err = gorillamux.NewRouter(&doc); err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := f.router.FindRoute(r)
	if err != nil {
		f.t.Errorf("%s %s is not in GitHub's REST API: %v", r.Method, r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		f.t.Errorf("%s %s does not match GitHub's REST API: %v", r.Method, r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, route.Method+" "+route.Path)
	var in2 struct {
		Body  string `json:"body"`
		State string `json:"state"`
	}
	json.Unmarshal(body, &in2)
	w.Header().Set("Content-Type", "application/json")
	switch route.Path {
	case "/repos/{owner}/{repo}/issues/{issue_number}/comments":
		if r.Method == http.MethodGet {
			var out []map[string]any
			for id, b := range f.comments {
				out = append(out, map[string]any{"id": id, "body": b})
			}
			json.NewEncoder(w).Encode(out)
			return
		}
		f.next++
		f.comments[f.next] = in2.Body
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": f.next, "body": in2.Body})
	case "/repos/{owner}/{repo}/issues/comments/{comment_id}":
		id, _ := strconv.ParseInt(params["comment_id"], 10, 64)
		f.comments[id] = in2.Body
		json.NewEncoder(w).Encode(map[string]any{"id": id, "body": in2.Body})
	case "/repos/{owner}/{repo}/statuses/{sha}":
		f.statuses = append(f.statuses, in2.State)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"state": in2.State})
	default:
		f.t.Errorf("unexpected call %s %s", route.Method, route.Path)
	}
}

func TestReviewComments(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGitHub(t)
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
	gh := github.NewClient(nil).WithAuthToken("test-token")
	gh.BaseURL, _ = url.Parse(srv.URL + "/")
	r := &Reviewer{Source: repo, GitHub: gh, Compiler: c}

	if err := r.Review(t.Context(), ReviewJob{Repo: "octo/shop", Number: 7, BaseCommit: base, HeadCommit: head1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Review(t.Context(), ReviewJob{Repo: "octo/shop", Number: 7, BaseCommit: base, HeadCommit: head2}); err != nil {
		t.Fatal(err)
	}
	if len(f.comments) != 1 {
		t.Fatalf("%d comments, want one edited in place", len(f.comments))
	}
	for _, body := range f.comments {
		if !strings.HasPrefix(body, reviewMarker) || !strings.Contains(body, "does not validate") || !strings.Contains(body, "must be 1..65535") {
			t.Errorf("the comment does not show the second head's problem:\n%.400s", body)
		}
	}
	if fmt.Sprint(f.statuses) != "[success failure]" {
		t.Errorf("statuses %v, want [success failure]", f.statuses)
	}
	want := "GET /repos/{owner}/{repo}/issues/{issue_number}/comments|POST /repos/{owner}/{repo}/issues/{issue_number}/comments|POST /repos/{owner}/{repo}/statuses/{sha}|" +
		"GET /repos/{owner}/{repo}/issues/{issue_number}/comments|PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}|POST /repos/{owner}/{repo}/statuses/{sha}"
	if got := strings.Join(f.requests, "|"); got != want {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.ReplaceAll(got, "|", "\n"), strings.ReplaceAll(want, "|", "\n"))
	}
}
