// Package canvas_test drives KubeOrch's own canvas editor, built from its
// source, in headless Chromium against cmd/hooks on the real kube stack
// (kube-apiserver, kwok's nodes, Flux's controllers): a team's user logs
// in, changes a replica count, saves (a commit on the source branch, by
// them), runs (Flux applies it), watches the node turn healthy from the
// status stream and restores a version (one more commit).
package canvas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/browsertest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/hookstest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/workflow"
)

// root is the checkout's root.
const root = "../.."

const (
	// email and password are the account the service makes at start and
	// the user logs in with.
	email    = "ada@example.com"
	password = "canvas-test-password-0123"
	// workflowName is the workflow of testdata/workflows, drafted and not
	// yet run; its Deployment is web, in namespace shop.
	workflowName = "shop"
	workflowFile = "workflows/" + workflowName + ".json"
	// webhookSecret signs GitHub's deliveries, which this test sends none of.
	webhookSecret = "canvas-webhook-secret-0123456789"
)

// settingsStatus is the status the open node settings panel shows (the
// badge beside its "Status" heading), or "" when it shows none.
const settingsStatus = `(() => {
	const h = Array.from(document.querySelectorAll("h3")).find(h => h.textContent.trim() === "Status");
	return h ? h.parentElement.textContent.slice(h.textContent.length).trim() : "";
})()`

// waitJS waits until the page's expression is true; what it shows is
// logged on failure.
func waitJS(t *testing.T, page context.Context, what, cond, show string, timeout time.Duration) {
	t.Helper()
	_, err := chromedp.Run(page, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		shown, _ := chromedp.Run(page, chromedp.Evaluate[string](show))
		t.Fatalf("%s: not within %s: %v; the page shows %q", what, timeout, err, shown)
	}
}

// do runs browser actions for at most timeout, failing the test with
// what they were for and where the page is.
func do(t *testing.T, page context.Context, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		shown, _ := chromedp.Run(page, chromedp.Evaluate[string](`location.pathname + ": " + document.body.innerText.slice(0, 500)`))
		t.Fatalf("%s: %v; the page shows %q", what, err, shown)
	}
}

// press waits until the element of an XPath query is visible, then
// presses and releases the main mouse button on it in the page (where a
// click at a point of the screen could miss an element still moving).
func press(xpath string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(xpath),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const e = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
			for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup", "click"]) {
				const init = {bubbles: true, cancelable: true, button: 0, view: window};
				e.dispatchEvent(type.startsWith("pointer") ? new PointerEvent(type, init) : new MouseEvent(type, init));
			}
		})()`, xpath)),
	)
}

// source reads the source repository's main branch.
type source struct{ bare string }

// head is main's commit.
func (s source) head(t *testing.T) string {
	t.Helper()
	return gittest.Git(t, s.bare, "rev-parse", "main")
}

// waitCommit waits until main moves past since and returns its commit.
func (s source) waitCommit(t *testing.T, k *kubetest.Stack, what, since string) string {
	t.Helper()
	var head string
	err := k.Poll(t.Context(), 2*time.Minute, func() (bool, error) {
		head = s.head(t)
		return head != since, nil
	})
	if err != nil {
		t.Fatalf("%s: no commit after %s: %v", what, since, err)
	}
	return head
}

// doc is the workflow file at a commit, decoded.
func (s source) doc(t *testing.T, commit string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(gittest.Git(t, s.bare, "show", commit+":"+workflowFile)), &v); err != nil {
		t.Fatalf("%s at %s: %v", workflowFile, commit, err)
	}
	return v
}

// checkCommit checks that commit is the user's and changes, of all files,
// the workflow's alone, from what it was at parent to want (but for the
// editor's copies of node ids).
func (s source) checkCommit(t *testing.T, commit, parent string, want any) {
	t.Helper()
	if author := gittest.Git(t, s.bare, "log", "-1", "--format=%an <%ae>", commit); !strings.HasSuffix(strings.TrimSpace(author), "<"+email+">") {
		t.Errorf("commit %.12s is by %s, want the user %s", commit, author, email)
	}
	if files := strings.Fields(gittest.Git(t, s.bare, "diff", "--name-only", parent, commit)); !reflect.DeepEqual(files, []string{workflowFile}) {
		t.Errorf("commit %.12s changes %v since %.12s, want %s alone", commit, files, parent, workflowFile)
	}
	if got := withoutEditorIDs(s.doc(t, commit)); !reflect.DeepEqual(got, want) {
		t.Errorf("%s at %.12s:\n%s\nwant:\n%s", workflowFile, commit, testutil.Marshal(t, got), testutil.Marshal(t, want))
	}
}

// withoutEditorIDs returns a workflow document without the copy of each
// node's id KubeOrch's editor keeps in the node's data (data.id), which
// it adds to a node the user edits.
func withoutEditorIDs(doc any) any {
	nodes, _ := doc.(map[string]any)["nodes"].([]any)
	for _, n := range nodes {
		n, _ := n.(map[string]any)
		if data, ok := n["data"].(map[string]any); ok && data["id"] == n["id"] {
			delete(data, "id")
		}
	}
	return doc
}

// web reads the workflow's Deployment, nil while there is none.
func web(t *testing.T, k *kubetest.Stack) *appsv1.Deployment {
	t.Helper()
	d, err := k.Client.AppsV1().Deployments(workflowName).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return d
}

func TestCanvas(t *testing.T) {
	uiDir := builtUI(t)
	k, gitRoot := kubetest.ForTest(t, filepath.Join(root, ".tools/kube/bin"), true)
	ctx := t.Context()
	page := browsertest.Start(t, 15*time.Minute)
	browsertest.KeepScreenshot(t, page, "canvas")
	// The browser starts now, on page: started on a context of one step,
	// it would end with that step.
	if err := chromedp.Do(page); err != nil {
		t.Fatal(err)
	}

	// The workflows repository, with the drafted workflow.
	src := source{bare: filepath.Join(gitRoot, "workflows.git")}
	gittest.InitBare(t, src.bare)
	remote := k.GitURL("workflows.git")
	work := gittest.Init(t)
	fixture, err := os.ReadFile("testdata/" + workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	first := gittest.Commit(t, work, "Draft the shop", map[string][]byte{workflowFile: fixture})
	gittest.Git(t, work, "push", "-q", remote, "main")

	// One origin for the UI and the API, as the UI was built for.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	h := hookstest.Start(t, hookstest.Build(t, root),
		"HOOKS_SOURCE_REPO="+remote,
		"HOOKS_GITHUB_WEBHOOK_SECRET="+webhookSecret,
		"HOOKS_KUBECONFIG="+k.Kubeconfig,
		"HOOKS_CANVAS=true",
		"HOOKS_CANVAS_ORIGINS="+origin,
		"HOOKS_CANVAS_ADMIN_EMAIL="+email,
		"HOOKS_CANVAS_ADMIN_PASSWORD="+password,
	)
	api, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	serveOneOrigin(t, ln, startUI(t, uiDir), api)

	// Flux, bootstrapped as the README says.
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: workflow.DefaultCluster, URL: remote, Branch: "deploy", Interval: 30 * time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"log in", func(t *testing.T) {
			do(t, page, "log in", time.Minute,
				chromedp.Navigate(origin+"/login"),
				chromedp.WaitVisible(`input[name="email"]`),
				chromedp.SendKeys(`input[name="email"]`, email),
				chromedp.SendKeys(`input[name="password"]`, password),
				chromedp.Click(`button[type="submit"]`),
			)
			waitJS(t, page, "the dashboard after the login", `location.pathname === "/dashboard"`, `location.pathname + " " + document.body.innerText.slice(0, 300)`, time.Minute)
			token, err := chromedp.Run(page, chromedp.Evaluate[string](`JSON.parse(localStorage.getItem("auth-storage")).state.token`))
			if err != nil || token == "" {
				t.Fatalf("no token after the login: %q, %v", token, err)
			}
		}},
		{"open the workflow from the list", func(t *testing.T) {
			do(t, page, "open the workflow", time.Minute,
				chromedp.Navigate(origin+"/dashboard/workflow"),
				chromedp.Click(`//*[normalize-space(text())='`+workflowName+`']`),
				chromedp.WaitVisible(`.react-flow__node[data-id="web"]`),
				chromedp.WaitVisible(`//button[normalize-space()='Run']`),
			)
		}},
		{"change the replica count in the settings panel", func(t *testing.T) {
			// Clicked in the page rather than at a point of the screen:
			// the canvas may still be fitting its view, moving the node.
			do(t, page, "open web's settings", time.Minute,
				chromedp.WaitVisible(`.react-flow__node[data-id="web"] button`),
				chromedp.Evaluate[chromedp.Void](`document.querySelector('.react-flow__node[data-id="web"] button').click()`),
				chromedp.WaitVisible(`#replicas`),
			)
			// A drafted workflow never ran: the panel shows no status.
			if st, err := chromedp.Run(page, chromedp.Evaluate[string](settingsStatus)); err != nil || st != "" {
				t.Errorf("before the first run the panel shows status %q (%v), want none", st, err)
			}
			do(t, page, "type 3 replicas", time.Minute,
				chromedp.Focus(`#replicas`),
				chromedp.Evaluate[chromedp.Void](`document.querySelector("#replicas").select()`),
				chromedp.SendKeys(`#replicas`, "3"),
			)
			waitJS(t, page, "3 replicas on the panel and the node", `document.querySelector("#replicas").value === "3" && document.querySelector("#replicas-web").value === "3"`,
				`document.querySelector("#replicas").value + " / " + document.querySelector("#replicas-web").value`, 10*time.Second)
		}},
		{"save: a commit by the user with that change alone", func(t *testing.T) {
			do(t, page, "save", time.Minute, chromedp.Click(`//button[normalize-space()='Save' and not(@disabled)]`))
			saved := src.waitCommit(t, k, "save", first)
			if parent := strings.TrimSpace(gittest.Git(t, src.bare, "rev-parse", saved+"^")); parent != first {
				t.Errorf("the save %.12s follows %.12s, want the first version %.12s alone", saved, parent, first)
			}
			src.checkCommit(t, saved, first, testutil.Apply(t, src.doc(t, first), testutil.Set("/nodes/0/data/replicas", 3.0)))
		}},
		{"run: Flux applies 3 replicas", func(t *testing.T) {
			do(t, page, "run", time.Minute, chromedp.Click(`//button[normalize-space()='Run' and not(@disabled)]`))
			var d *appsv1.Deployment
			err := k.Poll(ctx, 4*time.Minute, func() (bool, error) {
				d = web(t, k)
				return d != nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 3, nil
			})
			if err != nil {
				t.Fatalf("the Deployment shop/web with 3 replicas: %v; it is %+v", err, d)
			}
		}},
		{"the node turns healthy on the canvas", func(t *testing.T) {
			waitJS(t, page, "web healthy in its settings panel", settingsStatus+` === "healthy"`, settingsStatus, 4*time.Minute)
		}},
		{"restore the first version: one more commit", func(t *testing.T) {
			before := src.head(t)
			// The workflow's settings are the button beside its name; the
			// panel slides in, so its buttons are pressed in the page.
			do(t, page, "open the workflow's settings", time.Minute, press(`//h1[normalize-space()='`+workflowName+`']/../following-sibling::button[1]`))
			do(t, page, "open its history", time.Minute, press(`//button[@role='tab' and normalize-space()='History']`))
			do(t, page, "restore version 1", time.Minute,
				press(`//span[normalize-space()='v1']/ancestor::div[contains(@class,'rounded-lg')][1]//button[@title='Restore this version']`),
				press(`//button[normalize-space()='Restore' and not(@disabled)]`),
			)
			restored := src.waitCommit(t, k, "restore", before)
			src.checkCommit(t, restored, before, src.doc(t, first))
			waitJS(t, page, "1 replica on the canvas again", `document.querySelector("#replicas-web").value === "1"`, `document.querySelector("#replicas-web").value`, time.Minute)
			t.Logf("versions: %s", gittest.Git(t, src.bare, "log", "--format=%h %an <%ae> %s", "main"))
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.FailNow()
		}
	}
}
