// Package githubtest stands in for GitHub in tests: a loopback REST API
// that checks every request against GitHub's own REST description
// (@octokit/openapi) before it answers and keeps issue comments and
// commit statuses, and GitHub's example webhook payloads
// (@octokit/webhooks-examples). `make tools` installs both into
// .tools/npm.
package githubtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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
// request review makes (issue comments, commit statuses) and fails the
// test on any request GitHub's REST description does not allow.
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
