package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/testutil"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/browsertest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// site is the page served over a real store and repository.
type site struct {
	store *store.Store
	url   string
}

func serve(t *testing.T, access hooks.ReadAccess, kubeconfig bool) *site {
	t.Helper()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../../fixtures/repo", work, ""))
	gittest.Git(t, work, "branch", "deploy")
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	done := make(chan struct{})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	api, err := hooks.NewStatusAPI(hooks.StatusAPIConfig{Reader: s, Access: access, Heartbeat: time.Second, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(app)
	p, err := New(Config{Status: s, Source: repo, SourceBranch: "main", Deploy: repo, DeployBranch: "deploy", Access: access,
		Kubeconfig: kubeconfig, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p.Mount(app)
	// A route mounted later, as /readyz is, must not be guarded.
	app.Get("/later", func(c *fiber.Ctx) error { return c.SendString("ok") })
	url := testutil.ServeApp(t, app)
	t.Cleanup(func() { close(done) })
	return &site{store: s, url: url}
}

// shopStatus is a status record of the fixture workflow shop, with web's
// node at health h, its Deployment with 2 pods ready of 2 when healthy,
// else 1.
func (s *site) putShop(t *testing.T, h watch.Health, reason string) {
	t.Helper()
	ready, desired := int64(1), int64(2)
	if h == watch.Healthy {
		ready = 2
	}
	ws := watch.WorkflowStatus{Name: "shop", Cluster: "prod", Result: watch.Result{Health: h, Reason: "Deployment web: " + reason},
		Sync: watch.Sync{State: watch.Synced, Live: &watch.Revision{DeployCommit: strings.Repeat("d", 40), SourceCommit: strings.Repeat("5", 40), Version: 1}},
		Nodes: []watch.Node{
			{ID: "web", Result: watch.Result{Health: h, Reason: reason}, Objects: []watch.Object{{Kind: "Deployment", Namespace: "shop", Name: "web", Result: watch.Result{Health: h, Reason: reason},
				Figures: &watch.Figures{ReadyReplicas: &ready, DesiredReplicas: &desired},
				Events:  []watch.Event{{Time: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Reason: "BackOff", Message: "Back-off restarting failed container", Count: 3}}}}},
			{ID: "svc-web", Result: watch.Result{Health: watch.Healthy}},
		}}
	b, _ := json.Marshal(ws)
	if _, err := s.store.PutStatus(t.Context(), "workflows/shop", b); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(hooks.ClusterStatus{Name: "prod", Watched: true, Result: ws.Result, Workflows: []string{"shop"}})
	if _, err := s.store.PutStatus(t.Context(), "clusters/prod", b); err != nil {
		t.Fatal(err)
	}
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPages(t *testing.T) {
	t.Parallel()
	s := serve(t, hooks.ReadAccess{}, false)
	t.Run("no cluster watched", func(t *testing.T) {
		resp, body := fetch(t, s.url+"/")
		if resp.StatusCode != 200 || !strings.Contains(body, "No cluster is watched: HOOKS_KUBECONFIG is not set") {
			t.Errorf("GET / = %d\n%s", resp.StatusCode, body)
		}
		for name, want := range map[string]string{"Content-Security-Policy": ContentSecurityPolicy, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if got := resp.Header.Get("Server-Timing"); !strings.HasPrefix(got, "app;dur=") {
			t.Errorf("Server-Timing = %q, want app;dur=<milliseconds>", got)
		}
	})
	s.putShop(t, watch.Degraded, "not available")
	t.Run("workflow page", func(t *testing.T) {
		resp, body := fetch(t, s.url+"/workflows/shop")
		for _, want := range []string{
			`<g class="node health-Degraded" data-node="web" data-health="Degraded"`,
			`data-field="node-health">✕ Degraded</text>`,
			`data-field="node-figures">1/2 ready</text>`, "<td>1/2 ready</td>",
			`<g class="node health-Healthy" data-node="svc-web"`,
			`<g class="node health-Unknown" data-node="api"`,
			`class="edge edge-routes"`, `class="edge edge-mounts"`,
			"BackOff: Back-off restarting failed container (×3)",
			"v1 <code", "Add the fixture workflows",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /workflows/shop (%d) lacks %q", resp.StatusCode, want)
			}
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<script>") {
			t.Error("the page has inline style or script, which its policy forbids")
		}
	})
	t.Run("compare names fields, not values", func(t *testing.T) {
		resp, body := fetch(t, s.url+"/workflows/shop/compare?v1=1&v2=1")
		if resp.StatusCode != 200 || !strings.Contains(body, "shop: v1 → v1") {
			t.Errorf("compare = %d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("unknown and hostile names", func(t *testing.T) {
		for _, p := range []string{"/workflows/nope", "/workflows/..%2f..%2fetc"} {
			if resp, _ := fetch(t, s.url+p); resp.StatusCode != 404 {
				t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
			}
		}
	})
	t.Run("only GET", func(t *testing.T) {
		resp, err := http.Post(s.url+"/workflows/shop", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST = %d", resp.StatusCode)
		}
	})
}

// TestSyncStates: Flux's waits, a suspended Kustomization and a deploy
// head Flux has not applied each read as such, with a class of their own,
// and a suspended workflow is never shown green.
func TestSyncStates(t *testing.T) {
	t.Parallel()
	s := serve(t, hooks.ReadAccess{}, true)
	live := &watch.Revision{DeployCommit: strings.Repeat("d", 40), SourceCommit: strings.Repeat("5", 40), Version: 1}
	head := &watch.Revision{DeployCommit: strings.Repeat("e", 40), SourceCommit: strings.Repeat("6", 40), Version: 2}
	tests := []struct {
		name   string
		health watch.Health
		sync   watch.Sync
		want   []string
	}{
		{"waiting", watch.Progressing, watch.Sync{State: watch.Waiting, Live: live, Reason: "DependencyNotReady", Message: "waiting for workflow database (DependencyNotReady)"},
			[]string{`<span class="sync sync-Waiting" data-field="sync">Waiting</span>`, "waiting for workflow database"}},
		{"suspended", watch.Suspended, watch.Sync{State: string(watch.Suspended), Live: live, Suspended: true},
			[]string{`<span class="sync sync-Suspended" data-field="sync">Suspended</span>`, `class="health health-Suspended"`, `<span aria-hidden="true">‖</span> Suspended`}},
		{"out of sync while suspended", watch.Suspended, watch.Sync{State: watch.OutOfSync, Live: live, Head: head, Suspended: true},
			[]string{`<span class="sync sync-OutOfSync" data-field="sync">OutOfSync (suspended)</span>`, "deploy head v2 <code>eeeeeeeeeeee</code>"}},
		{"applied, unhealthy", watch.Degraded, watch.Sync{State: watch.Failed, Live: head, Unhealthy: true, Reason: "HealthCheckFailed", Message: "applied, unhealthy: health check failed after 20s"},
			[]string{`<span class="sync sync-Failed" data-field="sync">Failed (applied, unhealthy)</span>`, "applied, unhealthy: health check failed after 20s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := watch.WorkflowStatus{Name: "shop", Cluster: "prod", Result: watch.Result{Health: tc.health}, Sync: tc.sync, Nodes: []watch.Node{}}
			b, _ := json.Marshal(ws)
			if _, err := s.store.PutStatus(t.Context(), "workflows/shop", b); err != nil {
				t.Fatal(err)
			}
			for _, page := range []string{"/", "/workflows/shop"} {
				_, body := fetch(t, s.url+page)
				if strings.Contains(body, "health-Healthy") && tc.health != watch.Healthy {
					t.Errorf("GET %s shows a %s workflow healthy", page, tc.health)
				}
				if !strings.Contains(body, tc.want[0]) {
					t.Errorf("GET %s lacks %q", page, tc.want[0])
				}
			}
			_, body := fetch(t, s.url+"/workflows/shop")
			for _, want := range tc.want[1:] {
				if !strings.Contains(body, want) {
					t.Errorf("GET /workflows/shop lacks %q", want)
				}
			}
		})
	}
}

// TestClusterFlux: the overview shows each cluster's source and cluster
// Kustomization, and why the source fails.
func TestClusterFlux(t *testing.T) {
	t.Parallel()
	s := serve(t, hooks.ReadAccess{}, true)
	src := &watch.Readiness{Kind: "GitRepository", Namespace: "slipway", Name: "slipway", FluxReason: "GitOperationFailed",
		Result: watch.Result{Health: watch.Degraded, Reason: "fetch failed (GitOperationFailed): connection refused"}}
	k := &watch.Readiness{Kind: "Kustomization", Namespace: "slipway", Name: "slipway-prod", Result: watch.Result{Health: watch.Healthy}}
	b, _ := json.Marshal(hooks.ClusterStatus{Name: "prod", Watched: true, Result: src.Named(), Source: src, Kustomization: k, Workflows: []string{}})
	if _, err := s.store.PutStatus(t.Context(), "clusters/prod", b); err != nil {
		t.Fatal(err)
	}
	_, body := fetch(t, s.url+"/")
	for _, want := range []string{
		`<td data-field="source"><span class="health health-Degraded" title="GitRepository slipway/slipway: fetch failed (GitOperationFailed): connection refused">`,
		`<td data-field="kustomization"><span class="health health-Healthy" title="Kustomization slipway/slipway-prod">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
}

func TestPageNeedsCredentials(t *testing.T) {
	t.Parallel()
	s := serve(t, hooks.ReadAccess{Tokens: []string{"read-token-0123456789"}}, true)
	if resp, _ := fetch(t, s.url+"/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET / without a token = %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, s.url+"/later"); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("a route mounted after the page is guarded: %d", resp.StatusCode)
	}
}

// readNodes is each SVG node's id, health and label, as a reader sees them.
const readNodes = `Array.from(document.querySelectorAll("svg.graph g.node")).map(g =>
	g.dataset.node + "=" + g.dataset.health + " " + g.getAttribute("class") + " [" + g.querySelector(".node-health").textContent + "] {" + g.querySelector(".node-figures").textContent + "}").join("\n")`

func TestBrowser(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Start(t, 90*time.Second)
	browsertest.KeepScreenshot(t, ctx, "workflow-page")
	s := serve(t, hooks.ReadAccess{}, true)
	s.putShop(t, watch.Progressing, "rolling out")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/workflows/shop")); err != nil {
		t.Fatal(err)
	}
	nodes, err := chromedp.Run(ctx, chromedp.Evaluate[string](readNodes))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nodes, "web=Progressing node health-Progressing [… Progressing] {1/2 ready}") || !strings.Contains(nodes, "svc-web=Healthy node health-Healthy [✓ Healthy] {}") {
		t.Fatalf("nodes as loaded:\n%s", nodes)
	}
	poll := func(ctx context.Context, expr string) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
	}
	t.Run("an update arrives over the stream without reload", func(t *testing.T) {
		if err := poll(ctx, `document.querySelector('[data-field="live"]').textContent === "live"`); err != nil {
			t.Fatalf("the stream did not open: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`)); err != nil {
			t.Fatal(err)
		}
		s.putShop(t, watch.Healthy, "")
		if err := poll(ctx, `document.querySelector('g[data-node="web"]').dataset.health === "Healthy" && window.notReloaded === true`); err != nil {
			t.Fatalf("no update: %v", err)
		}
		if nodes, err = chromedp.Run(ctx, chromedp.Evaluate[string](readNodes)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(nodes, "web=Healthy node health-Healthy [✓ Healthy] {2/2 ready}") {
			t.Errorf("nodes after the update:\n%s", nodes)
		}
	})
	t.Run("without JavaScript the same data is there", func(t *testing.T) {
		noJS, cancel := chromedp.NewContext(ctx)
		defer cancel()
		if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(noJS, chromedp.Navigate(s.url+"/workflows/shop")); err != nil {
			t.Fatal(err)
		}
		if live, err := chromedp.Run(noJS, chromedp.Evaluate[string](`document.querySelector('[data-field="live"]').textContent`)); err != nil || live != "live updates off" {
			t.Errorf("the page's script ran with JavaScript off: %q, %v", live, err)
		}
		static, err := chromedp.Run(noJS, chromedp.Evaluate[string](readNodes))
		if err != nil {
			t.Fatal(err)
		}
		if static != nodes {
			t.Errorf("without JavaScript:\n%s\nwith:\n%s", static, nodes)
		}
	})
}

// A workflow page opened before the workflow has any status fills in its
// summary and graph from the first status event, without reload.
func TestBrowserFirstStatus(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Start(t, 90*time.Second)
	browsertest.KeepScreenshot(t, ctx, "workflow-page-first-status")
	s := serve(t, hooks.ReadAccess{}, true)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+"/workflows/shop")); err != nil {
		t.Fatal(err)
	}
	const summary = `(() => {
		const sec = document.querySelector("section[data-workflow]");
		const f = n => sec.querySelector('[data-field="' + n + '"]');
		const dl = sec.querySelector("dl.summary");
		return [f("no-status") ? "banner" : "no banner", dl && !dl.hidden && dl.offsetParent !== null ? "shown" : "hidden",
			f("cluster").textContent, f("health").textContent.trim(), f("version").textContent.trim(), f("sync").textContent,
			document.querySelector('g[data-node="web"]').dataset.health].join("|");
	})()`
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](summary))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(before, "banner|hidden|") {
		t.Errorf("before any status: %s", before)
	}
	poll := func(expr string) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
	}
	if err := poll(`document.querySelector('[data-field="live"]').textContent === "live"`); err != nil {
		t.Fatalf("the stream did not open: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	s.putShop(t, watch.Degraded, "not available")
	want := "no banner|shown|prod|✕ Degraded|v1 555555555555|Synced|Degraded"
	if err := poll(fmt.Sprintf(`%s === %q && window.notReloaded === true`, summary, want)); err != nil {
		after, _ := chromedp.Run(ctx, chromedp.Evaluate[string](summary))
		t.Fatalf("after the first status event the page shows %s, want %s: %v", after, want, err)
	}
}
