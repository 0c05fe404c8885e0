package canvas_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// prFixture is a canvas API in pull-request mode on a remote repository
// served over git's smart HTTP (with credentials, as a deploy push has
// them) and the stand-in GitHub.
type prFixture struct {
	*fixture
	bare   string
	github *githubtest.GitHub
}

func newPRFixture(t testing.TB) *prFixture {
	t.Helper()
	return newPRFixtureVia(t, func(api string) string { return api })
}

// newPRFixtureVia is newPRFixture whose GitHub API is at via(the
// stand-in's URL).
func newPRFixtureVia(t testing.TB, via func(api string) string) *prFixture {
	t.Helper()
	gh := githubtest.New(t, "..")
	remote, bare := gittest.AuthRemote(t, "../fixtures/repo", "slipway", "a push credential")
	client := github.NewClient(nil).WithAuthToken("a GitHub token")
	base, err := url.Parse(via(gh.URL) + "/")
	if err != nil {
		t.Fatal(err)
	}
	client.BaseURL = base
	pulls, err := canvas.NewGitHub(client, "slipway-gitops/workflows")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, remote.String(), func(o *canvas.Options) { o.PullRequests = pulls })
	return &prFixture{fixture: f, bare: bare, github: gh}
}

// remote runs git in the remote's bare repository.
func (f *prFixture) remote(args ...string) string {
	f.t.Helper()
	return gittest.Git(f.t, f.bare, args...)
}

// saved is the answer of a write in pull-request mode.
type saved struct {
	Message     string
	Workflow    canvas.Workflow
	PullRequest *canvas.PullRequest `json:"pull_request"`
}

// moved returns the canvas of w with its first node moved to x.
func moved(t *testing.T, w canvas.Workflow, x int) string {
	t.Helper()
	var nodes []map[string]any
	if err := json.Unmarshal(w.Nodes, &nodes); err != nil {
		t.Fatal(err)
	}
	nodes[0]["position"] = map[string]any{"x": x, "y": 0}
	b, err := json.Marshal(map[string]any{"nodes": nodes, "edges": w.Edges})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPullRequestSaves saves, restores and runs a workflow in
// pull-request mode: the saves are commits by the user on the workflow's
// branch of the remote, proposed by one pull request, the source branch
// is not written, the editor reads back what it saved, a run deploys the
// source branch and says what it leaves out, and once the pull request is
// merged the next save starts a new branch and pull request.
func TestPullRequestSaves(t *testing.T) {
	t.Parallel()
	f := newPRFixture(t)
	main := f.remote("rev-parse", "main")
	var shop canvas.Workflow
	f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &shop)

	var first saved
	f.expect(f.do("POST", "/workflows/shop/save", f.token, moved(t, shop, 11)), http.StatusOK, "save", &first)
	branch := canvas.SaveBranch("shop")
	if got := f.remote("log", "--format=%an <%ae>|%s", "main.."+branch); got != "Ada Lovelace <ada@example.com>|Save shop from the canvas" {
		t.Errorf("commits on %s: %q, want one by the user", branch, got)
	}
	if got := f.remote("rev-parse", "main"); got != main {
		t.Errorf("main moved to %s", got)
	}
	want := canvas.PullRequest{Number: 1, URL: f.github.URL + "/slipway-gitops/workflows/pull/1", Branch: branch, Base: "main", Opened: true}
	if first.PullRequest == nil || *first.PullRequest != want {
		t.Errorf("answer's pull request %+v, want %+v", first.PullRequest, want)
	}
	if !strings.Contains(first.Message, "pull request #1") || first.Workflow.Commit != f.remote("rev-parse", branch) {
		t.Errorf("answer %q of commit %s", first.Message, first.Workflow.Commit)
	}
	prs := f.github.PullRequests()
	if len(prs) != 1 || prs[0].Head != branch || prs[0].Base != "main" || prs[0].Title != "Save shop from the canvas" || prs[0].State != "open" ||
		!strings.Contains(prs[0].Body, "Ada Lovelace") {
		t.Fatalf("pull requests %+v, want one of %s into main", prs, branch)
	}

	var second saved
	f.expect(f.do("POST", "/workflows/shop/save", f.token, moved(t, shop, 22)), http.StatusOK, "save", &second)
	if got := f.remote("rev-list", "--count", "main.."+branch); got != "2" {
		t.Errorf("%s commits on %s, want 2", got, branch)
	}
	if n := len(f.github.PullRequests()); n != 1 || second.PullRequest == nil || second.PullRequest.Number != 1 || second.PullRequest.Opened {
		t.Errorf("after the second save: %d pull requests, answered %+v; want the first, not opened again", n, second.PullRequest)
	}

	t.Run("get shows what was saved", func(t *testing.T) {
		var got canvas.Workflow
		f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &got)
		if !strings.Contains(string(got.Nodes), `"x":22`) || got.Commit != f.remote("rev-parse", branch) || got.CurrentVersion != shop.CurrentVersion+2 {
			t.Errorf("shop at version %d, commit %s: %s", got.CurrentVersion, got.Commit, got.Nodes)
		}
		var list canvas.VersionList
		f.expect(f.do("GET", "/workflows/shop/versions", f.token, ""), http.StatusOK, "versions", &list)
		if list.Total != shop.CurrentVersion+2 || list.Versions[0].Description != "Save shop from the canvas" {
			t.Errorf("versions: %d, newest %+v", list.Total, list.Versions[0])
		}
	})
	t.Run("stale save", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + f.token}, "If-Match": {`"` + first.Workflow.Commit + `"`}}
		var got canvas.Reply
		f.expect(f.doHeader("POST", "/workflows/shop/save", h, moved(t, shop, 33)), http.StatusConflict, "error", &got)
		if !strings.Contains(got.Error, "another version") {
			t.Errorf("refusal %q", got.Error)
		}
		h.Set("If-Match", `"`+second.Workflow.Commit+`"`)
		f.expect(f.doHeader("POST", "/workflows/shop/save", h, moved(t, shop, 22)), http.StatusOK, "save", nil)
	})
	t.Run("run deploys main and says so", func(t *testing.T) {
		var got canvas.RunResponse
		f.expect(f.do("POST", "/workflows/shop/run", f.token, ""), http.StatusOK, "run", &got)
		if got.RunID != main || !strings.Contains(strings.Join(got.Logs, "\n"), "Not deployed: the saves of shop in pull request #1") {
			t.Errorf("run of %s: %q", got.RunID, got.Logs)
		}
	})
	t.Run("restore", func(t *testing.T) {
		var got saved
		f.expect(f.do("POST", "/workflows/shop/versions/1/restore", f.token, ""), http.StatusOK, "restore", &got)
		if s := f.remote("log", "-1", "--format=%an|%s", branch); s != "Ada Lovelace|Restore shop to version 1" {
			t.Errorf("commit %q", s)
		}
		if got.PullRequest == nil || got.PullRequest.Number != 1 || len(f.github.PullRequests()) != 1 || f.remote("rev-parse", "main") != main {
			t.Errorf("restore's pull request %+v of %d; main at %s", got.PullRequest, len(f.github.PullRequests()), f.remote("rev-parse", "main"))
		}
	})

	// The pull request is merged: main moves to the branch's head.
	f.remote("update-ref", "refs/heads/main", branch)
	f.github.MergePullRequest(1)
	merged := f.remote("rev-parse", "main")
	var third saved
	f.expect(f.do("POST", "/workflows/shop/save", f.token, moved(t, shop, 44)), http.StatusOK, "save", &third)
	if got := f.remote("rev-parse", branch+"^"); got != merged {
		t.Errorf("the save after the merge is on %s, want main's head %s", got, merged)
	}
	if third.PullRequest == nil || third.PullRequest.Number != 2 || !third.PullRequest.Opened || len(f.github.PullRequests()) != 2 {
		t.Errorf("after the merge: %+v of %d pull requests, want #2 opened", third.PullRequest, len(f.github.PullRequests()))
	}
}

// TestPullRequestCreate creates a workflow in pull-request mode: its file
// is on its branch only, the editor opens it, and a run, which deploys
// main, says where it is.
func TestPullRequestCreate(t *testing.T) {
	t.Parallel()
	f := newPRFixture(t)
	var created saved
	f.expect(f.do("POST", "/workflows", f.token, `{"name":"fresh","cluster_id":"prod"}`), http.StatusCreated, "create", &created)
	if created.PullRequest == nil || created.PullRequest.Branch != canvas.SaveBranch("fresh") || !created.PullRequest.Opened {
		t.Errorf("created with %+v", created.PullRequest)
	}
	if _, err := gittest.GitE(t.Context(), f.bare, "cat-file", "-e", "main:workflows/fresh.json"); err == nil {
		t.Error("main has the new workflow")
	}
	f.expect(f.do("GET", "/workflows/fresh", f.token, ""), http.StatusOK, "workflow", nil)
	f.expect(f.do("POST", "/workflows", f.token, `{"name":"fresh"}`), http.StatusConflict, "error", nil)
	var got canvas.Reply
	f.expect(f.do("POST", "/workflows/fresh/run", f.token, ""), http.StatusNotFound, "error", &got)
	if !strings.Contains(got.Error, "pull request #1") {
		t.Errorf("run refused with %q, want the pull request named", got.Error)
	}
}

// TestPullRequestRewrittenBranch saves on a branch someone rewrote: a
// save that names a version no longer on it, and any save on a branch
// that shares no history with main, are refused 409, and nothing is
// written.
func TestPullRequestRewrittenBranch(t *testing.T) {
	t.Parallel()
	f := newPRFixture(t)
	var shop canvas.Workflow
	f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &shop)
	var first saved
	f.expect(f.do("POST", "/workflows/shop/save", f.token, moved(t, shop, 11)), http.StatusOK, "save", &first)
	branch := canvas.SaveBranch("shop")
	for _, tc := range []struct {
		name    string
		parents []string
		ifMatch bool
		want    string
	}{
		{"force-pushed", []string{"-p", "main"}, true, "rewritten (force-pushed)"},
		{"unrelated history", nil, false, "shares no history with main"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"commit-tree", "main^{tree}", "-m", "Someone else's " + tc.name}, tc.parents...)
			rewritten := f.remote(args...)
			f.remote("update-ref", "refs/heads/"+branch, rewritten)
			h := http.Header{"Authorization": {"Bearer " + f.token}}
			if tc.ifMatch {
				h.Set("If-Match", first.Workflow.Commit)
			}
			var got canvas.Reply
			f.expect(f.doHeader("POST", "/workflows/shop/save", h, moved(t, shop, 22)), http.StatusConflict, "error", &got)
			if !strings.Contains(got.Error, tc.want) {
				t.Errorf("refusal %q, want it to say %q", got.Error, tc.want)
			}
			if at := f.remote("rev-parse", branch); at != rewritten {
				t.Errorf("%s moved to %s", branch, at)
			}
			if n := len(f.github.PullRequests()); n != 1 {
				t.Errorf("%d pull requests", n)
			}
		})
	}
}

// TestPullRequestConcurrentSaves saves one workflow from several editors
// at once in pull-request mode: every save is a commit on the one branch
// (it moves by compare-and-swap, the first save creating it), and one
// pull request proposes them all.
func TestPullRequestConcurrentSaves(t *testing.T) {
	t.Parallel()
	f := newPRFixture(t)
	var shop canvas.Workflow
	f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &shop)
	const editors = 4
	bodies := make([]string, editors)
	for i := range editors {
		bodies[i] = moved(t, shop, 100+i)
	}
	numbers := make([]int, editors)
	var wg sync.WaitGroup
	for i := range editors {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(t.Context(), "POST", f.url+"/v1/api/workflows/shop/save", strings.NewReader(bodies[i]))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+f.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var got saved
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || got.PullRequest == nil {
				t.Errorf("editor %d: status %d, %+v (%v)", i, resp.StatusCode, got, err)
				return
			}
			numbers[i] = got.PullRequest.Number
		})
	}
	wg.Wait()
	if got := f.remote("rev-list", "--count", "main.."+canvas.SaveBranch("shop")); got != fmt.Sprint(editors) {
		t.Errorf("%s commits on the branch for %d saves", got, editors)
	}
	if prs := f.github.PullRequests(); len(prs) != 1 || fmt.Sprint(numbers) != "[1 1 1 1]" {
		t.Errorf("pull requests %+v; the saves were answered with %v", prs, numbers)
	}
}

// TestPullRequestGitHubDown saves while GitHub's API fails: the answer is
// 502 and says the commit is on the workflow's branch, and the next save,
// though it changes nothing, opens the pull request.
func TestPullRequestGitHubDown(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	f := newPRFixtureVia(t, func(api string) string {
		backend, err := url.Parse(api)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(backend)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				http.Error(w, `{"message":"Service Unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			r.Host = backend.Host // the stand-in routes by its own address
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	})
	var shop canvas.Workflow
	f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &shop)
	branch := canvas.SaveBranch("shop")
	var got canvas.Reply
	f.expect(f.do("POST", "/workflows/shop/save", f.token, moved(t, shop, 11)), http.StatusBadGateway, "error", &got)
	if !strings.Contains(got.Error, "shop is saved on "+branch) || f.remote("rev-list", "--count", "main.."+branch) != "1" {
		t.Errorf("refusal %q", got.Error)
	}
	down.Store(false)
	var again saved
	f.expect(f.do("POST", "/workflows/shop/save", f.token, moved(t, shop, 11)), http.StatusOK, "save", &again)
	if again.PullRequest == nil || !again.PullRequest.Opened || len(f.github.PullRequests()) != 1 || f.remote("rev-list", "--count", "main.."+branch) != "1" {
		t.Errorf("after GitHub came back: %+v, %d pull requests", again.PullRequest, len(f.github.PullRequests()))
	}
}
