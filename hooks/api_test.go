package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/workflow"
)

func TestAPI(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
	doc := testutil.Apply(t, testutil.LoadJSON(t, filepath.Join("../fixtures/repo/workflows/shop.json")), testutil.Set("/nodes/3/data/replicas", 9))
	gittest.Commit(t, work, "Scale web to 9", map[string][]byte{"workflows/shop.json": testutil.Marshal(t, doc)})
	gittest.Commit(t, work, "Deploy commit stand-in", nil)
	gittest.Git(t, work, "branch", "deploy")
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const token = "0123456789abcdef-token"
	api := must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy", Tokens: []string{token}, Signals: s.Queue(),
		Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}, Ready: s.Ready}))(t)
	app := fiber.New()
	api.Mount(app)
	do := func(method, url, auth string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), method, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		method, url, auth string
		status            int
		contains          []string
	}{
		{"GET", "/readyz", "", 200, []string{`"ready":true`}},
		{"GET", "/api/workflows", "", 200, []string{`"name":"shop"`, `"status":"published"`, `"cluster":"prod"`, `"name":"sketch"`, `"name":"database","status":"published","cluster":"prod"`}},
		{"GET", "/api/workflows/shop/versions", "", 200, []string{`"version":1`, `"version":2`, `"message":"Scale web to 9"`}},
		{"GET", "/api/workflows/nope/versions", "", 404, []string{"not found"}},
		{"GET", "/api/workflows/shop/versions/compare?v1=1&v2=2", "", 200, []string{`"node_id":"web"`, `"path":"/data/replicas"`, `"old":2`, `"new":9`}},
		{"GET", "/api/workflows/shop/versions/compare?v1=1", "", 400, []string{"v1 and v2"}},
		{"GET", "/api/deploys", "", 200, []string{`"subject":"Deploy commit stand-in"`}},
		{"POST", "/api/workflows/shop/versions/1/restore", "", 401, []string{"bearer token"}},
		{"POST", "/api/workflows/shop/versions/1/restore", "wrong-token-0123456789", 401, []string{"bearer token"}},
		{"POST", "/api/workflows/shop/versions/1/restore", token, 202, []string{`"message":"Restore shop to version 1"`}},
		{"POST", "/api/workflows/shop/versions/3/restore", token, 409, []string{"unchanged"}},
	}
	for _, st := range steps {
		status, body := do(st.method, st.url, st.auth)
		if status != st.status {
			t.Errorf("%s %s: %d, want %d: %s", st.method, st.url, status, st.status, body)
		}
		for _, c := range st.contains {
			if !strings.Contains(body, c) {
				t.Errorf("%s %s lacks %s: %.300s", st.method, st.url, c, body)
			}
		}
	}
	if got := gittest.Git(t, work, "log", "-1", "--format=%s", "main"); got != "Restore shop to version 1" {
		t.Errorf("main is at %q", got)
	}
	if rev, _, err := s.Queue().Signalled(t.Context(), SignalDeploy); err != nil || rev == 0 {
		t.Errorf("restore did not ask for a deploy: revision %d, %v", rev, err)
	}
	var vs []map[string]any
	_, body := do("GET", "/api/workflows/shop/versions", "")
	if json.Unmarshal([]byte(body), &vs); len(vs) != 3 {
		t.Errorf("%d versions after the restore, want 3", len(vs))
	}
	gittest.Fsck(t, work)
}

// TestAPIRedactsSecrets: a commit that put secret values into a workflow
// file (history is not validated) does not make the API show them.
func TestAPIRedactsSecrets(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	const (
		password = "hunter2-in-git"
		urlPass  = "pw-in-a-url"
		keyBody  = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
		stored   = "sk_live_value_in_a_secret_node"
		token    = "token-in-env-keys"
	)
	v1 := `{"name": "leaky", "status": "draft", "nodes": [
		{"id": "web", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "web", "env": {"MODE": "a"}}},
		{"id": "keys", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "keys", "keys": [{"id": "k", "name": "stripe"}]}}
	], "edges": []}`
	v2 := `{"name": "leaky", "status": "draft", "nodes": [
		{"id": "web", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "web",
			"env": {"MODE": "b", "DB_PASSWORD": "` + password + `", "DATABASE": "postgres://app:` + urlPass + `@db/app"},
			"envKeys": [{"name": "API_TOKEN", "value": "` + token + `"}],
			"annotations": {"key": "-----BEGIN PRIVATE KEY-----\n` + keyBody + `\n-----END PRIVATE KEY-----"}}},
		{"id": "keys", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "keys", "keys": [{"id": "k", "name": "stripe", "value": "` + stored + `"}]}},
		{"id": "more", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "more", "stringData": {"a": "` + stored + `"}}}
	], "edges": []}`
	gittest.Commit(t, work, "Add leaky", map[string][]byte{"workflows/leaky.json": []byte(v1)})
	gittest.Commit(t, work, "Leak", map[string][]byte{"workflows/leaky.json": []byte(v2)})
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy"}))(t).Mount(app)
	for _, url := range []string{
		"/api/workflows/leaky/versions/compare?v1=1&v2=2",
		"/api/workflows/leaky/versions/compare?v1=2&v2=1",
		"/api/workflows",
		"/api/workflows/leaky/versions",
	} {
		t.Run(url, func(t *testing.T) {
			resp, err := app.Test(httptest.NewRequest(http.MethodGet, url, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d: %s", resp.StatusCode, b)
			}
			for _, s := range []string{password, urlPass, keyBody, stored, token} {
				if strings.Contains(string(b), s) {
					t.Errorf("shows %q: %s", s, b)
				}
			}
			if strings.Contains(url, "compare") {
				for _, want := range []string{`"path":"/data/env/MODE"`, `"new":"b"`, `"path":"/data/env/DB_PASSWORD"`, `"[redacted]"`, `"name":"API_TOKEN"`} {
					if !strings.Contains(string(b), want) && !strings.Contains(string(b), strings.Replace(want, "new", "old", 1)) {
						t.Errorf("lacks %s: %s", want, b)
					}
				}
			}
		})
	}
}

// TestAPICompareRedacts compares the versions of each workflow of
// ../workflow/testdata/redaction.json, both ways: each way a secret value
// reaches a comparison shows it redacted.
func TestAPICompareRedacts(t *testing.T) {
	t.Parallel()
	cases := testutil.RedactionCases(t, "../workflow/testdata/redaction.json")
	work := gittest.Init(t)
	for i, tc := range cases {
		file := fmt.Sprintf("workflows/case%d.json", i)
		gittest.Commit(t, work, "Add "+tc.Name, map[string][]byte{file: tc.From})
		gittest.Commit(t, work, "Change "+tc.Name, map[string][]byte{file: tc.To})
	}
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy"}))(t).Mount(app)
	for i, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			for _, q := range []string{"v1=1&v2=2", "v1=2&v2=1"} {
				resp, err := app.Test(httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/workflows/case%d/versions/compare?%s", i, q), nil), -1)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d: %s", q, resp.StatusCode, b)
				}
				for _, s := range tc.Secrets {
					if strings.Contains(string(b), s) {
						t.Errorf("%s shows %q: %s", q, s, b)
					}
				}
				// Compare shows nodes and edges only, not a workflow's
				// own fields.
				if strings.Contains(string(b), `"changes"`) && !strings.Contains(string(b), workflow.Redacted) {
					t.Errorf("%s does not say that a secret changed: %s", q, b)
				}
			}
		})
	}
}

// TestAPIRepositoryGone: a repository that disappears is a failing
// upstream (502 with a JSON error), not a missing workflow; a deploy
// branch that does not exist yet is an empty history.
func TestAPIRepositoryGone(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy"}))(t).Mount(app)
	get := func(t *testing.T, url string) (int, string) {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, url, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		name, url string
		gone      bool
		status    int
		body      string
	}{
		{"no deploy yet", "/api/deploys", false, 200, "[]"},
		{"workflows of a gone repository", "/api/workflows", true, 502, `{"error":"repository `},
		{"versions of a gone repository", "/api/workflows/shop/versions", true, 502, `{"error":"repository `},
		{"comparison in a gone repository", "/api/workflows/shop/versions/compare?v1=1&v2=1", true, 502, `{"error":"repository `},
		{"deploys of a gone repository", "/api/deploys", true, 502, `{"error":"repository `},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.gone {
				if err := os.RemoveAll(work); err != nil {
					t.Fatal(err)
				}
			}
			status, body := get(t, st.url)
			if status != st.status || !strings.HasPrefix(body, st.body) {
				t.Errorf("%d %s, want %d %s", status, body, st.status, st.body)
			}
		})
	}
}

// TestAPIReportsInvalidClusters: the API lists every problem the compiler
// reports, those of cluster files too, since both load the repository the
// same way.
func TestAPIReportsInvalidClusters(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
	gittest.Commit(t, work, "Add a broken cluster", map[string][]byte{"clusters/edge.json": []byte(`{"name": "not-edge"}`)})
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	src, err := repo.Source(head)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Build(t.Context(), src)
	want := workflow.AsErrors(err)
	if len(want) == 0 {
		t.Fatalf("the compiler accepts a broken cluster: %v", err)
	}
	got := listWorkflows(t, repo)
	if len(got.Problems) != len(want) {
		t.Fatalf("the API reports %v, the compiler %v", got.Problems, want)
	}
	for i, e := range want {
		if g := got.Problems[i]; g.File != "clusters/edge.json" || g.Error() != e.Error() {
			t.Errorf("problem %d: the API reports %v, the compiler %v", i, g, e)
		}
	}
}

// TestAPIListsBrokenDraft: a draft whose freshly added nodes are not
// linked yet is listed with its problems as warnings, and the other
// workflows stay valid, as the compiler builds them.
func TestAPIListsBrokenDraft(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	files := gittest.CopyDir(t, "../fixtures/repo", work, "")
	draft, err := os.ReadFile("../fixtures/kubeorch/workflows/half-drawn.json")
	if err != nil {
		t.Fatal(err)
	}
	files["workflows/half-drawn.json"] = draft
	gittest.Commit(t, work, "Add the fixture workflows and a half-drawn draft", files)
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := listWorkflows(t, repo)
	var found bool
	for _, wf := range got.Workflows {
		if len(wf.Problems) > 0 {
			t.Errorf("%s has problems %v", wf.Name, wf.Problems)
		}
		if wf.Name == "half-drawn" {
			found = true
			if wf.Status != workflow.StatusDraft || len(wf.Warnings) == 0 {
				t.Errorf("half-drawn: status %q, warnings %v; want a draft with warnings", wf.Status, wf.Warnings)
			}
		}
	}
	if !found || len(got.Problems) > 0 {
		t.Errorf("workflows %+v, problems %v: want half-drawn listed and no problems", got.Workflows, got.Problems)
	}
}

// TestAPIUnreadableSource: a source branch holding a file over the size
// bounds answers 422 with that file's problem, not a bare 500.
func TestAPIUnreadableSource(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	files := gittest.CopyDir(t, "../fixtures/repo", work, "")
	files["workflows/big.json"] = bytes.Repeat([]byte(" "), workflow.MaxFileSize+1)
	gittest.Commit(t, work, "Add the fixture workflows and a file over the limit", files)
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp := getWorkflows(t, repo)
	defer resp.Body.Close()
	var got struct {
		Problems workflow.Errors `json:"problems"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || len(got.Problems) != 1 || got.Problems[0].File != "workflows/big.json" {
		t.Errorf("got %d %+v, want 422 with the problem of workflows/big.json", resp.StatusCode, got.Problems)
	}
}

// listWorkflows answers GET /api/workflows of an API on repo.
func listWorkflows(t *testing.T, repo *gitrepo.Repo) WorkflowList {
	t.Helper()
	resp := getWorkflows(t, repo)
	defer resp.Body.Close()
	var got WorkflowList
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// getWorkflows answers GET /api/workflows of an API on repo.
func getWorkflows(t *testing.T, repo *gitrepo.Repo) *http.Response {
	t.Helper()
	app := fiber.New()
	must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy"}))(t).Mount(app)
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/api/workflows", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestReadyzDetailNeedsReadAccess: when reading needs credentials,
// /readyz tells a probe without them whether the service is ready, and
// nothing of why not or of the last deploy: those are for readers.
func TestReadyzDetailNeedsReadAccess(t *testing.T) {
	t.Parallel()
	repo, err := gitrepo.Open(t.Context(), gittest.Init(t), gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef-reader"
	status := DeployStatus{Leading: true, LastError: "workflows/shop.json: /nodes/3: what only readers may see"}
	for _, tc := range []struct {
		name   string
		ready  error
		auth   string
		status int
		body   string
	}{
		{"ready, no token", nil, "", 200, `{"ready":true}`},
		{"not ready, no token", errors.New("fetch https://git.example.com/workflows.git: gone"), "", 503, `{"ready":false}`},
		{"not ready, wrong token", errors.New("fetch https://git.example.com/workflows.git: gone"), "wrong-token-0123456789", 503, `{"ready":false}`},
		{"ready, reader", nil, token, 200, `{"deploy":{"leading":true,"last_error":"workflows/shop.json: /nodes/3: what only readers may see","failures":0},"ready":true}`},
		{"not ready, reader", errors.New("fetch https://git.example.com/workflows.git: gone"), token, 503,
			`{"deploy":{"leading":true,"last_error":"workflows/shop.json: /nodes/3: what only readers may see","failures":0},"error":"fetch https://git.example.com/workflows.git: gone","ready":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy",
				Access: ReadAccess{Tokens: []string{token}}, Deploys: func() DeployStatus { return status },
				Ready: func(context.Context) error { return tc.ready }}))(t)
			app := fiber.New()
			api.Mount(app)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", "Bearer "+tc.auth)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(b) != tc.body {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}
