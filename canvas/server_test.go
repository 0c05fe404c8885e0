package canvas_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/users"
	"github.com/slipway-gitops/slipway/workflow"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("methods", func(t *testing.T) {
		f.expect(f.do("GET", "/auth/methods", "", ""), http.StatusOK, "auth-methods", nil)
	})
	t.Run("login as the editor sends it", func(t *testing.T) {
		body := strings.Replace(request(t, "login"), "correct horse battery staple", password, 1)
		var got canvas.LoginReply
		f.expect(f.do("POST", "/auth/login", "", body), http.StatusOK, "login", &got)
		if got.User.Email != email || got.User.Name != "Ada Lovelace" || got.Token == f.token {
			t.Errorf("login: %+v", got)
		}
	})
	for _, tc := range []struct {
		name, body string
		status     int
		pointer    string
	}{
		{"wrong password", `{"email":"` + email + `","password":"wrong password!"}`, http.StatusUnauthorized, ""},
		{"unknown email", `{"email":"eve@example.com","password":"` + password + `"}`, http.StatusUnauthorized, ""},
		{"missing password", `{"email":"` + email + `"}`, http.StatusBadRequest, "/email"},
		{"not JSON", `{"email":`, http.StatusBadRequest, "/email"},
		{"wrong type", `{"email":"` + email + `","password":42}`, http.StatusBadRequest, "/password"},
		// Anyone may send a login: it is read no further than an email
		// and a password need, far short of a workflow's MaxBody.
		{"oversized", `{"email":"` + email + `","password":"` + password + `","padding":"` + strings.Repeat("a", 16<<10) + `"}`, http.StatusRequestEntityTooLarge, ""},
	} {
		t.Run("login refused: "+tc.name, func(t *testing.T) {
			var got canvas.Reply
			f.expect(f.do("POST", "/auth/login", "", tc.body), tc.status, "error", &got)
			if got.Pointer != tc.pointer {
				t.Errorf("pointer %q, want %q: %s", got.Pointer, tc.pointer, got.Error)
			}
		})
	}
	t.Run("bad JSON names its place", func(t *testing.T) {
		var got canvas.Reply
		f.expect(f.do("POST", "/auth/login", "", `{"email":"a","password":[1,}`), http.StatusBadRequest, "error", &got)
		if !strings.Contains(got.Error, "/password") {
			t.Errorf("error %q names no pointer", got.Error)
		}
	})

	// A 401 signs the editor's user out: it answers only a route Slipway
	// serves, without a valid token. What is not served is 404, token or
	// none.
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
	}{
		{"served, no token", "GET", "/workflows", "", http.StatusUnauthorized},
		{"served, unknown token", "GET", "/workflows", "slw_" + strings.Repeat("x", 43), http.StatusUnauthorized},
		{"served, not bearer", "GET", "/workflows", "", http.StatusUnauthorized},
		{"write, no token", "POST", "/workflows/shop/save", "", http.StatusUnauthorized},
		{"not served, no token", "GET", "/dashboard/stats", "", http.StatusNotFound},
		{"served beside one not served, no token", "GET", "/dashboard/recent-workflows", "", http.StatusUnauthorized},
		{"not served, token", "GET", "/alerts/overview", f.token, http.StatusNotFound},
		{"not served write, no token", "DELETE", "/workflows/shop", "", http.StatusNotFound},
		{"unknown path", "GET", "/no/such/route", f.token, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.expect(f.do(tc.method, tc.path, tc.token, ""), tc.status, "error", nil)
		})
	}

	t.Run("profile and refresh", func(t *testing.T) {
		var login canvas.LoginReply
		f.expect(f.do("POST", "/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`), http.StatusOK, "login", &login)
		f.expect(f.do("GET", "/profile", login.Token, ""), http.StatusOK, "", nil)
		var next canvas.LoginReply
		f.expect(f.do("POST", "/auth/refresh", login.Token, "{}"), http.StatusOK, "login", &next)
		f.expect(f.do("GET", "/profile", login.Token, ""), http.StatusUnauthorized, "error", nil)
		f.expect(f.do("GET", "/profile", next.Token, ""), http.StatusOK, "", nil)
		f.expect(f.do("POST", "/auth/refresh", login.Token, "{}"), http.StatusUnauthorized, "error", nil)
	})
}

func TestWorkflows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("list", func(t *testing.T) {
		var got struct{ Workflows []canvas.Workflow }
		f.expect(f.do("GET", "/workflows", f.token, ""), http.StatusOK, "workflow-list", &got)
		var ids []string
		for _, w := range got.Workflows {
			ids = append(ids, w.ID)
		}
		if !strings.Contains(strings.Join(ids, " "), "batch database legacy shop sketch") {
			t.Errorf("listed %v", ids)
		}
	})
	t.Run("recent", func(t *testing.T) {
		var got struct{ Workflows []canvas.Workflow }
		f.expect(f.do("GET", "/dashboard/recent-workflows", f.token, ""), http.StatusOK, "workflow-list", &got)
		if len(got.Workflows) != 5 {
			t.Errorf("%d recent workflows, want 5", len(got.Workflows))
		}
	})
	t.Run("get", func(t *testing.T) {
		var got canvas.Workflow
		f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &got)
		if got.Status != "published" || got.ClusterID != "prod" || got.CurrentVersion != 1 || got.Commit != f.git("rev-parse", "HEAD") {
			t.Errorf("shop: %+v", got)
		}
	})
	for _, id := range []string{"nope", "..%2F..%2Fetc%2Fpasswd", "..", "Shop", "shop.json", "a%00b", strings.Repeat("a", 64)} {
		t.Run("no workflow "+id, func(t *testing.T) {
			f.expect(f.do("GET", "/workflows/"+id, f.token, ""), http.StatusNotFound, "error", nil)
			f.expect(f.do("POST", "/workflows/"+id+"/save", f.token, `{"nodes":[],"edges":[]}`), http.StatusNotFound, "error", nil)
		})
	}

	t.Run("create then save as the editor sends it", func(t *testing.T) {
		var created struct {
			ID       string
			Workflow canvas.Workflow
		}
		f.expect(f.do("POST", "/workflows", f.token, request(t, "create")), http.StatusCreated, "create", &created)
		if created.ID != "checkout-service" || created.Workflow.Status != "draft" || created.Workflow.ClusterID != "prod" {
			t.Errorf("created %+v", created)
		}
		f.expect(f.do("POST", "/workflows", f.token, request(t, "create")), http.StatusConflict, "error", nil)

		var saved struct{ Workflow canvas.Workflow }
		f.expect(f.do("POST", "/workflows/checkout-service/save", f.token, request(t, "save")), http.StatusOK, "save", &saved)
		if saved.Workflow.CurrentVersion != 2 {
			t.Errorf("saved version %d, want 2", saved.Workflow.CurrentVersion)
		}
		if got := f.git("log", "-1", "--format=%an <%ae>|%s"); got != "Ada Lovelace <ada@example.com>|Save checkout-service from the canvas" {
			t.Errorf("commit %q: want the user as its author", got)
		}
		file := f.git("show", "HEAD:workflows/checkout-service.json")
		for _, runtime := range []string{"_status", "hasValidationError", "measured", "selected", "dragging", "animated"} {
			if strings.Contains(file, runtime) {
				t.Errorf("the file keeps %s:\n%s", runtime, file)
			}
		}
		for _, kept := range []string{`"replicas": 3`, `"_linkedDeployment": "node-1"`, `"description": "Checkout Service\n\nDrawn on the canvas"`} {
			if !strings.Contains(file, kept) {
				t.Errorf("the file lost %s:\n%s", kept, file)
			}
		}
		before := f.git("rev-parse", "HEAD")
		f.expect(f.do("POST", "/workflows/checkout-service/save", f.token, request(t, "save")), http.StatusOK, "save", nil)
		if f.git("rev-parse", "HEAD") != before {
			t.Error("a save that changes nothing made a commit")
		}
	})

	t.Run("save keeps the file's other members as written", func(t *testing.T) {
		var shop canvas.Workflow
		f.expect(f.do("GET", "/workflows/sketch", f.token, ""), http.StatusOK, "workflow", &shop)
		before := f.git("show", "HEAD:workflows/sketch.json")
		body, _ := json.Marshal(map[string]any{"nodes": shop.Nodes, "edges": shop.Edges})
		f.expect(f.do("POST", "/workflows/sketch/save", f.token, string(body)), http.StatusOK, "save", nil)
		after := f.git("show", "HEAD:workflows/sketch.json")
		head := func(s string) string { h, _, _ := strings.Cut(s, `"nodes"`); return h }
		if head(before) != head(after) {
			t.Errorf("members before nodes changed:\n%s\n---\n%s", head(before), head(after))
		}
	})

	t.Run("a published workflow that would not deploy is refused", func(t *testing.T) {
		var shop canvas.Workflow
		f.expect(f.do("GET", "/workflows/shop", f.token, ""), http.StatusOK, "workflow", &shop)
		var nodes []map[string]any
		if err := json.Unmarshal(shop.Nodes, &nodes); err != nil {
			t.Fatal(err)
		}
		nodes[0]["data"].(map[string]any)["name"] = "Not A DNS Name"
		body, _ := json.Marshal(map[string]any{"nodes": nodes, "edges": shop.Edges})
		var got canvas.Problems
		f.expect(f.do("POST", "/workflows/shop/save", f.token, string(body)), http.StatusUnprocessableEntity, "error", &got)
		if got.Pointer != "/nodes/0/data/name" {
			t.Errorf("pointer %q, want /nodes/0/data/name: %s", got.Pointer, got.Error)
		}
	})

	for _, tc := range []struct {
		name, body string
		status     int
		pointer    string
	}{
		{"nodes not an array", `{"nodes":"x","edges":[]}`, http.StatusBadRequest, "/nodes"},
		{"position not numbers", `{"nodes":[{"id":"a","type":"deployment","position":{"x":"1","y":0},"data":{}}]}`, http.StatusBadRequest, "/nodes/0/position/x"},
		{"edge source not a string", `{"edges":[{"id":"e","source":1,"target":"b"}]}`, http.StatusBadRequest, "/edges/0/source"},
		{"not JSON", `{"nodes":[`, http.StatusBadRequest, "/nodes"},
		{"two documents", `{} {}`, http.StatusBadRequest, ""},
		{"oversized", `{"description":"` + strings.Repeat("a", canvas.MaxBody) + `"}`, http.StatusRequestEntityTooLarge, ""},
		// The body and its nodes are two values before the first node.
		{"more values than a workflow file may hold", emptyNodes(workflow.MaxValues), http.StatusRequestEntityTooLarge, fmt.Sprintf("/nodes/%d", workflow.MaxValues-2)},
	} {
		t.Run("save refused: "+tc.name, func(t *testing.T) {
			var got canvas.Reply
			f.expect(f.do("POST", "/workflows/shop/save", f.token, tc.body), tc.status, "error", &got)
			if got.Pointer != tc.pointer {
				t.Errorf("pointer %q, want %q: %s", got.Pointer, tc.pointer, got.Error)
			}
		})
	}

	t.Run("a draft's save over a file's limit is refused", func(t *testing.T) {
		// Some 300 KB of empty nodes are a file of 10 MB once written: a
		// draft is saved whatever its problems, but no reader of the
		// repository would read this file, nor list the others beside it.
		head := f.git("rev-parse", "main")
		var got canvas.Reply
		f.expect(f.do("POST", "/workflows/sketch/save", f.token, emptyNodes(100_000)), http.StatusRequestEntityTooLarge, "error", &got)
		if now := f.git("rev-parse", "main"); now != head {
			t.Errorf("the refused save moved main from %s to %s", head, now)
		}
		f.expect(f.do("GET", "/workflows", f.token, ""), http.StatusOK, "", nil)
	})

	t.Run("status", func(t *testing.T) {
		var got struct{ Workflow canvas.Workflow }
		f.expect(f.do("PUT", "/workflows/legacy/status", f.token, `{"status":"archived"}`), http.StatusOK, "save", &got)
		if got.Workflow.Status != "archived" {
			t.Errorf("status %q", got.Workflow.Status)
		}
		f.expect(f.do("PUT", "/workflows/legacy/status", f.token, `{"status":"gone"}`), http.StatusBadRequest, "error", nil)
	})
}

// emptyNodes is a save of n empty nodes.
func emptyNodes(n int) string {
	return `{"nodes":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `],"edges":[]}`
}

// TestConcurrentSaves saves one workflow from many editors at once: each
// save is a commit of its own (the branch moves by compare-and-swap), and
// a save that names the version it loaded (If-Match) is refused 409 once
// another came first.
func TestConcurrentSaves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var created struct{ Workflow canvas.Workflow }
	f.expect(f.do("POST", "/workflows", f.token, `{"name":"race","cluster_id":"prod"}`), http.StatusCreated, "create", &created)
	loaded := created.Workflow.Commit

	const editors = 6
	statuses := make([]int, editors)
	var wg sync.WaitGroup
	for i := range editors {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", f.url+"/v1/api/workflows/race/save",
				strings.NewReader(fmt.Sprintf(`{"nodes":[{"id":"n","type":"configmap","position":{"x":%d,"y":0},"data":{"name":"c","data":{"k":"%d"}}}],"edges":[]}`, i, i)))
			req.Header.Set("Authorization", "Bearer "+f.token)
			if i%2 == 1 {
				req.Header.Set("If-Match", `"`+loaded+`"`)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
			if resp.StatusCode != http.StatusOK {
				t.Logf("editor %d: %s", i, b)
			}
		})
	}
	wg.Wait()
	commits, conditionalWins := 0, 0
	for i, s := range statuses {
		switch {
		case s == http.StatusOK:
			commits++
			if i%2 == 1 {
				conditionalWins++
			}
		case s == http.StatusConflict && i%2 == 1:
		default:
			t.Errorf("editor %d: status %d", i, s)
		}
	}
	if conditionalWins > 1 {
		t.Errorf("%d saves on version %s were taken; at most one may be", conditionalWins, loaded)
	}
	if got := strings.Count(f.git("log", "--format=%s", "--", "workflows/race.json"), "Save race"); got != commits {
		t.Errorf("%d save commits for %d saves answered 200", got, commits)
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var created struct{ Workflow canvas.Workflow }
	f.expect(f.do("POST", "/workflows", f.token, `{"name":"history","cluster_id":"prod"}`), http.StatusCreated, "create", &created)
	for i := 1; i <= 3; i++ {
		body := fmt.Sprintf(`{"nodes":[{"id":"n","type":"configmap","position":{"x":0,"y":0},"data":{"name":"c","data":{"v":"%d"}}}],"edges":[]}`, i)
		f.expect(f.do("POST", "/workflows/history/save", f.token, body), http.StatusOK, "save", nil)
	}

	t.Run("list newest first, paged", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []int
		}{
			{"", []int{4, 3, 2, 1}},
			{"?page=1&limit=3", []int{4, 3, 2}},
			{"?page=2&limit=3", []int{1}},
			{"?page=3&limit=3", nil},
			// (page-1)*limit overflows int: a page past the end, not a panic.
			{"?page=4611686018427387904&limit=4", nil},
		} {
			t.Run(tc.query, func(t *testing.T) {
				var got canvas.VersionList
				f.expect(f.do("GET", "/workflows/history/versions"+tc.query, f.token, ""), http.StatusOK, "versions", &got)
				var numbers []int
				for _, v := range got.Versions {
					numbers = append(numbers, v.Version)
				}
				if fmt.Sprint(numbers) != fmt.Sprint(tc.want) || got.Total != 4 {
					t.Errorf("versions %v of %d, want %v of 4", numbers, got.Total, tc.want)
				}
			})
		}
		f.expect(f.do("GET", "/workflows/history/versions?limit=1000", f.token, ""), http.StatusBadRequest, "error", nil)
	})

	t.Run("get", func(t *testing.T) {
		var got canvas.Version
		f.expect(f.do("GET", "/workflows/history/versions/2", f.token, ""), http.StatusOK, "version", &got)
		if !strings.Contains(string(got.Nodes), `"v":"1"`) || got.CreatedBy != "Ada Lovelace" {
			t.Errorf("version 2: %+v", got)
		}
		f.expect(f.do("GET", "/workflows/history/versions/9", f.token, ""), http.StatusNotFound, "error", nil)
		f.expect(f.do("GET", "/workflows/history/versions/x", f.token, ""), http.StatusBadRequest, "error", nil)
	})

	t.Run("restore is a new commit by the user", func(t *testing.T) {
		var got struct {
			Version  canvas.Version
			Workflow canvas.Workflow
		}
		f.expect(f.do("POST", "/workflows/history/versions/2/restore", f.token, ""), http.StatusOK, "restore", &got)
		if got.Version.Version != 5 || got.Version.RestoredFrom != 2 || !strings.Contains(string(got.Workflow.Nodes), `"v":"1"`) {
			t.Errorf("restore: %+v", got)
		}
		if a := f.git("log", "-1", "--format=%an|%s"); a != "Ada Lovelace|Restore history to version 2" {
			t.Errorf("commit %q", a)
		}
		f.expect(f.do("POST", "/workflows/history/versions/2/restore", f.token, ""), http.StatusConflict, "error", nil)
	})
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Run("clusters", func(t *testing.T) {
		var got canvas.ClusterList
		f.expect(f.do("GET", "/clusters", f.token, ""), http.StatusOK, "clusters", &got)
		if len(got.Clusters) != 2 || got.Default == nil || *got.Default != "prod" {
			t.Errorf("clusters %+v", got)
		}
		f.expect(f.do("GET", "/clusters/staging", f.token, ""), http.StatusOK, "", nil)
		f.expect(f.do("GET", "/clusters/nope", f.token, ""), http.StatusNotFound, "error", nil)
	})
	t.Run("templates", func(t *testing.T) {
		var got struct{ Templates []canvas.Template }
		f.expect(f.do("GET", "/templates", f.token, ""), http.StatusOK, "templates", &got)
		core, plugin := 0, 0
		for _, tm := range got.Templates {
			if tm.IsPlugin {
				plugin++
			} else {
				core++
			}
		}
		if core != 12 || plugin == 0 {
			t.Errorf("%d core and %d plugin templates", core, plugin)
		}
	})
	t.Run("plugins", func(t *testing.T) {
		f.expect(f.do("GET", "/plugins", f.token, ""), http.StatusOK, "plugins", nil)
		f.expect(f.do("GET", "/plugins/enabled", f.token, ""), http.StatusOK, "plugins", nil)
	})
}

// TestProxyHeader signs in the user an authenticating proxy names, only
// when the request comes from the proxy's address.
func TestProxyHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		trusted string
		status  int
	}{
		{"from the proxy", "127.0.0.1/32", http.StatusOK},
		{"from elsewhere", "10.0.0.0/8", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureWith(t, func(o *canvas.Options) {
				o.ProxyHeader, o.TrustedProxies = "X-Forwarded-Email", []netip.Prefix{netip.MustParsePrefix(tc.trusted)}
			})
			h := http.Header{"X-Forwarded-Email": {"grace@example.com"}}
			var got struct{ User users.User }
			f.expect(f.doHeader("GET", "/profile", h, ""), tc.status, "", &got)
			if tc.status == http.StatusOK && (got.User.Email != "grace@example.com" || got.User.AuthProvider != "proxy") {
				t.Errorf("user %+v", got.User)
			}
			// The editor signs in before it shows a page: through the
			// proxy, a login answers the proxy's user whatever the
			// password; elsewhere it checks the password.
			login := f.doHeader("POST", "/auth/login", h, `{"email":"grace@example.com","password":"anything at all"}`)
			if tc.status == http.StatusOK {
				f.expect(login, http.StatusOK, "", nil)
			} else {
				f.expect(login, http.StatusUnauthorized, "error", nil)
			}
		})
	}
}

// TestCORS lets the editor's origin call the API from a browser, and no
// other origin.
func TestCORS(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, func(o *canvas.Options) { o.Origins = []string{"http://127.0.0.1:3000"} })
	for _, tc := range []struct {
		origin, want string
	}{
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"http://evil.example", ""},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			h := http.Header{"Origin": {tc.origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"}}
			a := f.doHeader("OPTIONS", "/workflows/shop/save", h, "")
			if got := a.header.Get("Access-Control-Allow-Origin"); got != tc.want {
				t.Errorf("preflight: allowed origin %q, want %q (status %d)", got, tc.want, a.status)
			}
		})
	}
}

// TestSaveOfABrokenFile refuses to save over a workflow file that is no
// JSON object, naming the file, and commits nothing.
func TestSaveOfABrokenFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gittest.Commit(t, f.dir, "Break sketch", map[string][]byte{"workflows/sketch.json": []byte(`{"name": "sketch", "name": "again"}`)})
	before := f.git("rev-parse", "HEAD")
	var got canvas.Problems
	f.expect(f.do("POST", "/workflows/sketch/save", f.token, `{"nodes":[],"edges":[]}`), http.StatusUnprocessableEntity, "error", &got)
	if len(got.Problems) != 1 || got.Problems[0].File != "workflows/sketch.json" {
		t.Errorf("problems %+v", got.Problems)
	}
	if f.git("rev-parse", "HEAD") != before {
		t.Error("a refused save committed")
	}
}
