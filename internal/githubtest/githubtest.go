// Package githubtest stands in for GitHub in tests: a loopback REST API
// that checks every request against GitHub's own REST description
// (@octokit/openapi) before it answers and keeps issue comments and
// commit statuses and pull requests, and GitHub's example webhook payloads
// (@octokit/webhooks-examples). `make tools` installs both into
// .tools/npm.
package githubtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Paths of the npm payloads below a checkout's root.
const (
	specPath     = ".tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json"
	examplesPath = ".tools/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)

// specs holds GitHub's REST description by file, loaded once per file.
var specs sync.Map // path → func() (*openapi3.T, error)

func loadSpec(path string) (*openapi3.T, error) {
	f, _ := specs.LoadOrStore(path, sync.OnceValues(func() (*openapi3.T, error) {
		return openapi3.NewLoader().LoadFromFile(path)
	}))
	return f.(func() (*openapi3.T, error))()
}

// skipLoudly skips a test that lacks an npm payload, and fails it in CI,
// which must run it.
func skipLoudly(t testing.TB, msg string) {
	t.Helper()
	msg = "SKIPPED LOUDLY: " + msg + " (make tools installs it into .tools/npm)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run this test")
	}
	t.Skip(msg)
}

// GitHub is a loopback GitHub REST API. It answers the calls a pull
// request review makes (issue comments, commit statuses) and those that
// open pull requests (list and create), and fails the test on any request
// GitHub's REST description does not allow.
type GitHub struct {
	// URL is the API's base URL, without a trailing slash.
	URL string

	t        testing.TB
	router   routers.Router
	mu       sync.Mutex
	comments map[int64]string
	next     int64
	requests []string
	statuses []string
	pulls    []PullRequest
}

// PullRequest is a pull request opened on the stand-in.
type PullRequest struct {
	Number int
	// Head and Base are branch names, without an owner.
	Head, Base  string
	Title, Body string
	// State is "open" or "closed"; Merged is true for a merged one.
	State  string
	Merged bool
}

// New starts a stand-in GitHub for a test; root is the checkout's root
// (where .tools/npm is). Without GitHub's REST description the test is
// skipped loudly.
func New(t testing.TB, root string) *GitHub {
	t.Helper()
	path := filepath.Join(root, specPath)
	if _, err := os.Stat(path); err != nil {
		skipLoudly(t, "GitHub's REST description is missing: "+err.Error())
	}
	spec, err := loadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	g := &GitHub{t: t, comments: map[int64]string{}, next: 100}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	doc := *spec
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	if g.router, err = gorillamux.NewRouter(&doc); err != nil {
		t.Fatal(err)
	}
	return g
}

// Comments returns the issue comments by id.
func (g *GitHub) Comments() map[int64]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[int64]string, len(g.comments))
	for id, b := range g.comments {
		out[id] = b
	}
	return out
}

// Requests returns the calls answered so far, as "METHOD /route/{param}".
func (g *GitHub) Requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.requests...)
}

// Statuses returns the states of the commit statuses set so far.
func (g *GitHub) Statuses() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.statuses...)
}

// PullRequests returns the pull requests opened so far, oldest first.
func (g *GitHub) PullRequests() []PullRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]PullRequest(nil), g.pulls...)
}

// MergePullRequest marks pull request number merged and closed, as
// GitHub does when its head is merged into its base; the test merges
// the branches in its git repository itself.
func (g *GitHub) MergePullRequest(number int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.pulls {
		if g.pulls[i].Number == number {
			g.pulls[i].State, g.pulls[i].Merged = "closed", true
			return
		}
	}
	g.t.Errorf("no pull request #%d to merge", number)
}

// pullJSON is a pull request in GitHub's shape, with the fields a client
// reads.
func (g *GitHub) pullJSON(owner, repo string, p PullRequest) map[string]any {
	ref := func(branch string) map[string]any {
		return map[string]any{"ref": branch, "label": owner + ":" + branch}
	}
	return map[string]any{
		"number": p.Number, "state": p.State, "merged": p.Merged, "title": p.Title, "body": p.Body,
		"html_url": fmt.Sprintf("%s/%s/%s/pull/%d", g.URL, owner, repo, p.Number),
		"url":      fmt.Sprintf("%s/repos/%s/%s/pulls/%d", g.URL, owner, repo, p.Number),
		"head":     ref(p.Head), "base": ref(p.Base),
	}
}

// pullsRoute answers the listing (by head, base and state) and the
// creation of pull requests; a second open pull request of one head into
// one base is refused with 422, as GitHub refuses it.
func (g *GitHub) pullsRoute(w http.ResponseWriter, r *http.Request, owner, repo string, body []byte) {
	branch := func(head string) string {
		_, b, ok := strings.Cut(head, ":")
		if !ok {
			return head
		}
		return b
	}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		out := []map[string]any{}
		for _, p := range slices.Backward(g.pulls) { // newest first, as GitHub sorts
			state := cmp.Or(q.Get("state"), "open")
			if (state != "all" && p.State != state) || (q.Has("head") && branch(q.Get("head")) != p.Head) || (q.Has("base") && q.Get("base") != p.Base) {
				continue
			}
			out = append(out, g.pullJSON(owner, repo, p))
		}
		json.NewEncoder(w).Encode(out)
		return
	}
	var sent struct {
		Head  string `json:"head"`
		Base  string `json:"base"`
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	json.Unmarshal(body, &sent)
	p := PullRequest{Number: len(g.pulls) + 1, Head: branch(sent.Head), Base: sent.Base, Title: sent.Title, Body: sent.Body, State: "open"}
	for _, o := range g.pulls {
		if o.State == "open" && o.Head == p.Head && o.Base == p.Base {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]any{"message": "Validation Failed", "errors": []map[string]any{
				{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for " + owner + ":" + p.Head + "."}}})
			return
		}
	}
	g.pulls = append(g.pulls, p)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(g.pullJSON(owner, repo, p))
}

// ServeHTTP checks a request against GitHub's REST description and
// answers it.
func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := g.router.FindRoute(r)
	if err != nil {
		g.t.Errorf("%s %s is not in GitHub's REST API: %v", r.Method, r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		g.t.Errorf("%s %s does not match GitHub's REST API: %v", r.Method, r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, route.Method+" "+route.Path)
	var sent struct {
		Body  string `json:"body"`
		State string `json:"state"`
	}
	json.Unmarshal(body, &sent)
	w.Header().Set("Content-Type", "application/json")
	switch route.Path {
	case "/repos/{owner}/{repo}/issues/{issue_number}/comments":
		if r.Method == http.MethodGet {
			var out []map[string]any
			for id, b := range g.comments {
				out = append(out, map[string]any{"id": id, "body": b})
			}
			json.NewEncoder(w).Encode(out)
			return
		}
		g.next++
		g.comments[g.next] = sent.Body
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": g.next, "body": sent.Body})
	case "/repos/{owner}/{repo}/issues/comments/{comment_id}":
		id, _ := strconv.ParseInt(params["comment_id"], 10, 64)
		g.comments[id] = sent.Body
		json.NewEncoder(w).Encode(map[string]any{"id": id, "body": sent.Body})
	case "/repos/{owner}/{repo}/pulls":
		g.pullsRoute(w, r, params["owner"], params["repo"], body)
	case "/repos/{owner}/{repo}/statuses/{sha}":
		g.statuses = append(g.statuses, sent.State)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"state": sent.State})
	default:
		g.t.Errorf("unexpected call %s %s", route.Method, route.Path)
	}
}

// Examples returns GitHub's example payloads of an event (such as "push"
// or "pull_request"); root is the checkout's root. Without them the test
// is skipped loudly.
func Examples(t testing.TB, root, event string) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, examplesPath))
	if err != nil {
		skipLoudly(t, "GitHub's example payloads are missing: "+err.Error())
	}
	var all []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Name == event {
			return e.Examples
		}
	}
	t.Fatalf("no %s examples in %s", event, examplesPath)
	return nil
}
