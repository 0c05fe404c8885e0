// Package e2e_test runs the whole loop as a team sees it, on real parts:
// a workflows repository on a smart-HTTP git server, cmd/hooks as a
// process (embedded etcd, the cluster's kubeconfig, the reconcile
// request), Flux bootstrapped on the deploy branch as the README says, a
// kube-apiserver with kwok nodes, a GitHub stand-in checked against
// GitHub's REST description, and the status page read in headless
// Chromium.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/browsertest"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/hookstest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// root is the checkout's root.
const root = "../.."

const (
	// webhookSecret signs the deliveries; apiToken authorises restores.
	webhookSecret = "e2e-webhook-secret-0123456789"
	apiToken      = "e2e-api-token-0123456789"
	// pushes is how many pushes the latency is measured over.
	pushes = 10
	// workflowName is the workflow of testdata/workflows.
	workflowName = "hello"
	// prNumber is the pull request the review comments on.
	prNumber = 7
)

// deliver posts a webhook delivery signed as GitHub signs it.
func deliver(t *testing.T, s *hookstest.Service, event, id string, body []byte) {
	t.Helper()
	code, result, err := s.Deliver(webhookSecret, event, id, body)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("%s delivery %s: %d %s %v", event, id, code, result, err)
	}
}

// example returns the first of GitHub's example payloads of an event
// whose JSON has fragment, with top-level members set.
func example(t *testing.T, event, fragment string, set map[string]any) []byte {
	t.Helper()
	for _, raw := range githubtest.Examples(t, root, event) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(compact.Bytes(), []byte(fragment)) {
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		for k, v := range set {
			p = testutil.Apply(t, p, testutil.Set(k, v)).(map[string]any)
		}
		return testutil.Marshal(t, p)
	}
	t.Fatalf("no %s example has %s", event, fragment)
	return nil
}

// workflowFile returns the test's workflow with patches applied.
func workflowFile(t *testing.T, patches ...testutil.Patch) []byte {
	t.Helper()
	doc := testutil.LoadJSON(t, "testdata/workflows/"+workflowName+".json")
	return testutil.Marshal(t, testutil.Apply(t, doc, patches...))
}

// release sets the workflow's RELEASE, which each push changes.
func release(n int) testutil.Patch { return testutil.Set("/nodes/0/data/env/RELEASE", fmt.Sprint(n)) }

// livePage is the workflow page's live version, whether it and every
// node of its graph are Healthy, and its sync state, as the browser shows
// them.
const livePage = `(() => {
	const text = f => { const e = document.querySelector('section[data-workflow] [data-field="' + f + '"]'); return e ? e.textContent.trim() : ""; };
	const nodes = Array.from(document.querySelectorAll("svg.graph g.node"));
	return text("version") + "|" + text("health") + "|" +
		nodes.map(g => g.dataset.node + "=" + g.dataset.health).join(",") + "|" + text("sync");
})()`

// openPage loads a workflow's page and waits until it has its fields (the
// page renders them before the workflow's first status record, and the
// stream fills them in).
func openPage(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		has, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('section[data-workflow] [data-field="version"]') !== null`))
		if err != nil {
			t.Fatal(err)
		}
		if has {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s shows no status within 4 minutes", url)
		}
	}
}

// waitLive waits until the page in the browser shows the source commit
// live, with the workflow and every node Healthy when healthy is set, and
// returns what it showed.
func waitLive(t *testing.T, ctx context.Context, commit string, healthy bool, timeout time.Duration) string {
	t.Helper()
	cond := fmt.Sprintf(`(() => {
		const [version, health, nodes] = %s.split("|");
		const live = version.endsWith(" %s");
		if (!%t) return live;
		return live && health.endsWith("Healthy") && nodes !== "" && nodes.split(",").every(n => n.endsWith("=Healthy"));
	})()`, livePage, commit[:12], healthy)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := chromedp.Run(pctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](livePage))
	if err != nil {
		t.Fatalf("the page did not show %s live%s within %s: %v; it shows %q", commit[:7], map[bool]string{true: " and healthy"}[healthy], timeout, err, shown)
	}
	return shown
}

// latency logs the p50 and p90 of durations, with the load average.
func latency(t *testing.T, what string, took []time.Duration) {
	t.Helper()
	took = slices.Sorted(slices.Values(took))
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	t.Logf("%s over %d pushes: p50 %s, p90 %s (min %s, max %s); load average %s", what, len(took),
		percentile(took, 50), percentile(took, 90), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), load)
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1].Round(time.Millisecond)
}

func TestEndToEnd(t *testing.T) {
	s, gitRoot := kubetest.ForTest(t, filepath.Join(root, ".tools/kube/bin"), true)
	ctx := t.Context()
	tl := watchTimeline(t, s.Config)
	gh := githubtest.New(t, root)
	page := browsertest.Start(t, 15*time.Minute)
	browsertest.KeepScreenshot(t, page, "workflow-page")

	// The workflows repository, pushed over smart HTTP as a team would.
	gittest.InitBare(t, filepath.Join(gitRoot, "workflows.git"))
	remote := s.GitURL("workflows.git")
	work := gittest.Init(t)
	first := gittest.Commit(t, work, "Add the hello workflow", map[string][]byte{"workflows/" + workflowName + ".json": workflowFile(t)})
	gittest.Git(t, work, "push", "-q", remote, "main")

	h := hookstest.Start(t, hookstest.Build(t, root),
		"HOOKS_SOURCE_REPO="+remote,
		"HOOKS_GITHUB_WEBHOOK_SECRET="+webhookSecret,
		"HOOKS_API_TOKENS="+apiToken,
		"HOOKS_GITHUB_TOKEN=e2e-github-token",
		"HOOKS_GITHUB_API_URL="+gh.URL,
		"HOOKS_KUBECONFIG="+s.Kubeconfig,
	)

	// Flux, bootstrapped as the README says, with an interval long enough
	// that only the reconcile request can explain a quick deploy.
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: workflow.DefaultCluster, URL: remote, Branch: "deploy", Interval: 30 * time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	openPage(t, page, h.URL+"/workflows/"+workflowName)
	shown := waitLive(t, page, first, true, 4*time.Minute)
	t.Logf("first version live and healthy: %s", shown)

	var head string
	t.Run("each signed push goes live on the page, healthy", func(t *testing.T) {
		var took, healthy []time.Duration
		before := first
		for i := range pushes {
			n := i + 2
			head = gittest.Commit(t, work, fmt.Sprintf("Release %d", n), map[string][]byte{"workflows/" + workflowName + ".json": workflowFile(t, release(n))})
			gittest.Git(t, work, "push", "-q", remote, "main")
			body := example(t, "push", `"ref":"refs/heads/`, map[string]any{"/ref": "refs/heads/main", "/before": before, "/after": head})
			began := time.Now()
			deliver(t, h, "push", fmt.Sprintf("push-%d", n), body)
			// Live once Flux has applied it: rolling out while Flux checks
			// its health, Synced after.
			live := waitLive(t, page, head, false, 2*time.Minute)
			shown := time.Now()
			if sync := live[strings.LastIndexByte(live, '|')+1:]; sync != watch.RollingOut && sync != watch.Synced {
				t.Errorf("push %d live with sync %q, want %s or %s", n, sync, watch.RollingOut, watch.Synced)
			}
			took = append(took, shown.Sub(began))
			waitLive(t, page, head, true, 2*time.Minute)
			healthy = append(healthy, time.Since(began))
			tl.explain(t, h.Log, n, head, began, shown, live)
			before = head
		}
		dep, err := s.Client.AppsV1().Deployments(workflowName).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if env := dep.Spec.Template.Spec.Containers[0].Env; !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == "RELEASE" && e.Value == fmt.Sprint(pushes+1) }) {
			t.Errorf("the Deployment runs %v, want RELEASE=%d", env, pushes+1)
		}
		latency(t, "push delivery → version live on the page", took)
		latency(t, "push delivery → live and Healthy, Flux's health check passed", healthy)
	})
	if head == "" {
		t.FailNow()
	}

	t.Run("a pull request gets the rendered diff as a comment", func(t *testing.T) {
		gittest.Git(t, work, "checkout", "-q", "-b", "scale")
		prHead := gittest.Commit(t, work, "Scale web to 3", map[string][]byte{"workflows/" + workflowName + ".json": workflowFile(t, release(pushes+1), testutil.Set("/nodes/0/data/replicas", 3))})
		gittest.Git(t, work, "push", "-q", remote, fmt.Sprintf("scale:refs/pull/%d/head", prNumber))
		gittest.Git(t, work, "checkout", "-q", "main")
		body := example(t, "pull_request", `"action":"opened"`, map[string]any{
			"/number": prNumber, "/pull_request/number": prNumber,
			"/pull_request/head/sha": prHead, "/pull_request/base/sha": head,
		})
		deliver(t, h, "pull_request", "pr-opened", body)
		var comment string
		err := s.Poll(ctx, time.Minute, func() (bool, error) {
			for _, c := range gh.Comments() {
				comment = c
			}
			return comment != "", nil
		})
		if err != nil {
			t.Fatalf("no comment: %v; calls %v", err, gh.Requests())
		}
		for _, want := range []string{"hello/web", "spec.replicas: 1 → 3"} {
			if !strings.Contains(comment, want) {
				t.Errorf("the comment lacks %q:\n%s", want, comment)
			}
		}
		if st := gh.Statuses(); !slices.Equal(st, []string{"success"}) {
			t.Errorf("commit statuses %v, want [success]", st)
		}
	})

	t.Run("a restore through the API brings the first version back live", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL+"/api/workflows/"+workflowName+"/versions/1/restore", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var restored struct{ Commit, Message string }
		err = json.NewDecoder(resp.Body).Decode(&restored)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || err != nil {
			t.Fatalf("restore: %s %+v %v", resp.Status, restored, err)
		}
		shown := waitLive(t, page, restored.Commit, true, 2*time.Minute)
		t.Logf("restored: %s (%s)", shown, restored.Message)
		dep, err := s.Client.AppsV1().Deployments(workflowName).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if env := dep.Spec.Template.Spec.Containers[0].Env; !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == "RELEASE" && e.Value == "1" }) {
			t.Errorf("after the restore the Deployment runs %v, want RELEASE=1", env)
		}
		gittest.Git(t, work, "pull", "-q", "--ff-only", remote, "main")
		if got, want := gittest.Git(t, work, "show", "HEAD:workflows/"+workflowName+".json"), gittest.Git(t, work, "show", first+":workflows/"+workflowName+".json"); got != want {
			t.Errorf("the restored file differs from the first version:\n%s\nwant:\n%s", got, want)
		}
	})
}
