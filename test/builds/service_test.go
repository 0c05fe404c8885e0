package builds_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/browsertest"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/hookstest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/registrytest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/workflow"
)

const (
	// webhookSecret signs the deliveries.
	webhookSecret = "builds-webhook-secret-0123456789"
	// apiToken authorises the build and scan requests.
	apiToken = "builds-api-token-0123456789"
	// buildNamespace is where the service runs build Jobs.
	buildNamespace = "slipway-builds"
	// storeFile is the store workflow's file in the workflows repository.
	storeFile = "workflows/store.json"
)

// hooksEnv is cmd/hooks with builds on, its workflows repository on the
// stack's git server and Flux deploying the deploy branch.
type hooksEnv struct {
	t      *testing.T
	stack  *kubetest.Stack
	hooks  *hookstest.Service
	remote string // the workflows repository
	work   string // a clone of it
}

// workflow returns the store workflow file on the remote's main.
func (s *hooksEnv) workflow() string {
	s.t.Helper()
	gittest.Git(s.t, s.work, "fetch", "-q", s.remote, "main")
	return gittest.Git(s.t, s.work, "show", "FETCH_HEAD:"+storeFile)
}

// oneCommitSince checks that the remote's main moved by one commit since
// head, and returns it.
func (s *hooksEnv) oneCommitSince(head string) string {
	s.t.Helper()
	now := s.head()
	gittest.Git(s.t, s.work, "fetch", "-q", s.remote, "main")
	if n := gittest.Git(s.t, s.work, "rev-list", "--count", head+".."+now); n != "1" {
		s.t.Errorf("main moved by %s commits since %s, want 1", n, head)
	}
	return now
}

// head returns the remote's main.
func (s *hooksEnv) head() string {
	s.t.Helper()
	return strings.Fields(gittest.Git(s.t, s.work, "ls-remote", s.remote, "refs/heads/main"))[0]
}

// build returns a build as the service reports it.
func (s *hooksEnv) build(id string) *build.Record {
	s.t.Helper()
	var r build.Record
	if code, err := s.hooks.Call(http.MethodGet, "/api/builds/"+id, "", nil, &r); code != http.StatusOK || err != nil {
		s.t.Fatalf("GET /api/builds/%s: %d %v", id, code, err)
	}
	return &r
}

// waitBuild waits until the service reports the build in a status.
func (s *hooksEnv) waitBuild(id string, want build.Status) *build.Record {
	s.t.Helper()
	var last *build.Record
	if err := s.stack.Poll(s.t.Context(), 3*time.Minute, func() (bool, error) {
		last = s.build(id)
		return last.Status == want, nil
	}); err != nil {
		s.t.Fatalf("build %s not %s: %v; last %+v", id, want, err, last)
	}
	return last
}

// buildPod waits for the build's pod in a step, as kwok runs it.
func (s *hooksEnv) buildPod(id string) *corev1.Pod {
	s.t.Helper()
	var pod *corev1.Pod
	err := s.stack.Poll(s.t.Context(), 2*time.Minute, func() (bool, error) {
		pods, err := s.stack.Client.CoreV1().Pods(buildNamespace).List(s.t.Context(), metav1.ListOptions{LabelSelector: build.LabelBuild + "=" + id})
		if err != nil || len(pods.Items) != 1 {
			return false, err
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if err != nil {
		s.t.Fatalf("no pod for build %s: %v", id, err)
	}
	return pod
}

// end ends the build pod's step, as its container would.
func (s *hooksEnv) end(id, step string, code int) {
	s.t.Helper()
	if err := s.stack.EndBuildStep(s.t.Context(), buildNamespace, s.buildPod(id).Name, step, code, ""); err != nil {
		s.t.Fatal(err)
	}
}

// runs waits until the cluster's Deployment of a node runs image, as
// Flux applied it.
func (s *hooksEnv) runs(node, image string) {
	s.t.Helper()
	var got string
	if err := s.stack.Poll(s.t.Context(), 4*time.Minute, func() (bool, error) {
		d, err := s.stack.Client.AppsV1().Deployments("store").Get(s.t.Context(), node, metav1.GetOptions{})
		if err == nil {
			got = d.Spec.Template.Spec.Containers[0].Image
		}
		return got == image, nil
	}); err != nil {
		s.t.Fatalf("the cluster's %s Deployment runs %q, want %s: %v", node, got, image, err)
	}
}

// scan asks the service to follow the image policies, as a registry's
// webhook does, and returns the commits it made.
func (s *hooksEnv) scan() []string {
	s.t.Helper()
	var reply struct {
		Commits []string `json:"commits"`
		Error   string   `json:"error"`
	}
	if code, err := s.hooks.Call(http.MethodPost, "/api/images/scan", apiToken, nil, &reply); code != http.StatusOK || err != nil || reply.Error != "" {
		s.t.Fatalf("POST /api/images/scan: %d %v %q", code, err, reply.Error)
	}
	return reply.Commits
}

// readBuilds is each build row as a reader sees it.
const readBuilds = `Array.from(document.querySelectorAll("tr[data-build]")).map(tr => {
	const f = n => tr.querySelector('[data-field="' + n + '"]');
	return [tr.closest("[data-build-node]").dataset.buildNode, tr.dataset.build, tr.className, f("build-id").textContent, f("build-commit").textContent,
		f("build-commit").title, f("build-step").className, f("build-step").textContent, f("build-progress").value, f("build-percent").textContent,
		f("build-image").textContent, f("build-duration").textContent, f("build-note").textContent].join("|");
}).join("\n")`

// pushBody returns GitHub's example push payload for a push of sha to
// the api's repository's main.
func pushBody(t *testing.T, sha string) []byte {
	t.Helper()
	for _, raw := range githubtest.Examples(t, "../..", "push") {
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if ref, _ := p["ref"].(string); strings.HasPrefix(ref, "refs/heads/") {
			return testutil.Marshal(t, testutil.Apply(t, p, testutil.Set("/ref", "refs/heads/main"), testutil.Set("/after", sha),
				testutil.Set("/repository/clone_url", apiRepo)))
		}
	}
	t.Fatal("no push example pushes a branch")
	return nil
}

// TestBuildServiceOnTheStack runs cmd/hooks as a process with builds on,
// against the stack with Flux: a build killed mid-step with SIGKILL and
// recovered from its Job, its write-back and the deploy Flux applies, and
// an image policy followed on the registry's webhook and at the interval,
// and the status page in headless Chromium following a build live.
func TestBuildServiceOnTheStack(t *testing.T) {
	stack, gitRoot := kubetest.ForTest(t, binDir, true)
	host := registrytest.Serve(t)
	webRepo := host + "/team/web"
	web140 := webRepo + ":1.4.0@" + registrytest.Push(t, webRepo+":1.4.0")

	gittest.InitBare(t, filepath.Join(gitRoot, "workflows.git"))
	s := &hooksEnv{t: t, stack: stack, remote: stack.GitURL("workflows.git"), work: gittest.Init(t)}
	doc := testutil.Apply(t, testutil.LoadJSON(t, "testdata/"+storeFile), testutil.Set("/nodes/1/data/image", web140))
	gittest.Commit(t, s.work, "Add the store", map[string][]byte{storeFile: testutil.Marshal(t, doc)})
	gittest.Git(t, s.work, "push", "-q", s.remote, "main")
	if _, err := stack.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: buildNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.hooks = hookstest.Start(t, hookstest.Build(t, "../.."),
		"HOOKS_SOURCE_REPO="+s.remote,
		"HOOKS_GITHUB_WEBHOOK_SECRET="+webhookSecret,
		"HOOKS_API_TOKENS="+apiToken,
		"HOOKS_KUBECONFIG="+stack.Kubeconfig,
		"HOOKS_BUILD_REGISTRY="+host+"/team",
		"HOOKS_BUILD_REGISTRY_INSECURE=true",
		"HOOKS_BUILD_NAMESPACE="+buildNamespace,
		"HOOKS_BUILD_CPU=100m", "HOOKS_BUILD_MEMORY=128Mi",
		"HOOKS_BUILD_RESYNC=1s",
		// A step's failure fails its build, not a retry.
		"HOOKS_BUILD_RETRIES=0",
		// Only the webhook follows the policies, until the interval's
		// part of the test.
		"HOOKS_BUILD_POLICY_INTERVAL=24h",
	)
	// Flux, bootstrapped as the README says, with an interval long enough
	// that only the service's reconcile request explains a deploy.
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: workflow.DefaultCluster, URL: s.remote, Branch: "deploy", Interval: 30 * time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.Apply(t.Context(), bootstrap); err != nil {
		t.Fatal(err)
	}
	s.runs("web", web140)

	t.Run("killed mid-build, the service recovers the build from its Job; the write-back deploys", func(t *testing.T) {
		s.t = t
		before, head := s.workflow(), s.head()
		var r build.Record
		code, err := s.hooks.Call(http.MethodPost, "/api/builds", apiToken, build.Request{Workflow: "store", Node: "api", Commit: commit('a')}, &r)
		if code != http.StatusCreated || err != nil {
			t.Fatalf("POST /api/builds: %d %v", code, err)
		}
		s.waitBuild(r.ID, build.Cloning)
		s.end(r.ID, "clone", 0)
		s.waitBuild(r.ID, build.Building)
		uid := s.buildPod(r.ID).UID

		s.hooks.Kill()
		// The build step ends while no replica runs.
		s.end(r.ID, "build", 0)
		restarted := time.Now()
		s.hooks.Restart(t)
		s.waitBuild(r.ID, build.Pushing)
		t.Logf("recovered the build's step %s after the restart began", time.Since(restarted).Round(100*time.Millisecond))
		jobs, err := stack.Client.BatchV1().Jobs(buildNamespace).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) != 1 || s.buildPod(r.ID).UID != uid {
			t.Errorf("after the restart: %d Jobs, pod %s (was %s); want the one Job and pod", len(jobs.Items), s.buildPod(r.ID).UID, uid)
		}

		digest := registrytest.Push(t, r.Registry+"/"+r.ImageName+":"+r.ImageTag)
		s.end(r.ID, "push", 0)
		done := s.waitBuild(r.ID, build.Completed)
		want := host + "/team/example/shop-api:" + commit('a')[:12] + "@" + digest
		if wb := s.oneCommitSince(head); done.FinalImageRef != want || done.WriteBack != wb {
			t.Errorf("completed build = %+v; want %s written back as main's head %s", done, want, wb)
		}
		checkOnlyImage(t, before, s.workflow(), "ghcr.io/example/shop-api:1.0", want)
		s.runs("api", want)
	})

	t.Run("a push delivery builds once, however often it comes; a cancel deletes the Job", func(t *testing.T) {
		s.t = t
		body := pushBody(t, commit('b'))
		for _, id := range []string{"push-b", "push-b", "push-b-again"} {
			if code, result, err := s.hooks.Deliver(webhookSecret, "push", id, body); code/100 != 2 || err != nil {
				t.Fatalf("delivery %s: %d %s %v", id, code, result, err)
			}
		}
		if err := stack.Poll(t.Context(), 2*time.Minute, func() (bool, error) {
			depth, ok := s.hooks.Metric("slipway_queue_depth")
			return ok && depth == 0, nil
		}); err != nil {
			t.Fatalf("the deliveries' jobs did not run: %v", err)
		}
		var list struct{ Builds []build.Record }
		if code, err := s.hooks.Call(http.MethodGet, "/api/builds", "", nil, &list); code != http.StatusOK || err != nil {
			t.Fatalf("GET /api/builds: %d %v", code, err)
		}
		var ids []string
		for _, r := range list.Builds {
			if r.Commit == commit('b') {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) != 1 {
			t.Fatalf("builds of the pushed commit: %v, want one", ids)
		}
		s.waitBuild(ids[0], build.Cloning)
		if jobs, err := stack.Client.BatchV1().Jobs(buildNamespace).List(t.Context(), metav1.ListOptions{}); err != nil || len(jobs.Items) != 2 {
			t.Errorf("%d Jobs, %v; want the first build's and this one's", len(jobs.Items), err)
		}
		var cancelled build.Record
		if code, err := s.hooks.Call(http.MethodDelete, "/api/builds/"+ids[0], apiToken, nil, &cancelled); code != http.StatusOK || err != nil || cancelled.Status != build.Cancelled {
			t.Fatalf("DELETE /api/builds/%s: %d %v %+v", ids[0], code, err, cancelled)
		}
		if err := stack.Poll(t.Context(), 2*time.Minute, func() (bool, error) {
			_, err := stack.Client.BatchV1().Jobs(buildNamespace).Get(t.Context(), build.JobName(ids[0]), metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			t.Errorf("the cancelled build's Job remains: %v", err)
		}
	})

	t.Run("a matching tag becomes one write-back and a deploy; another does nothing", func(t *testing.T) {
		s.t = t
		before, head := s.workflow(), s.head()
		registrytest.Push(t, webRepo+":2.0.0")
		if commits := s.scan(); len(commits) != 0 || s.head() != head {
			t.Errorf("a tag out of range made commits %v", commits)
		}
		web141 := webRepo + ":1.4.1@" + registrytest.Push(t, webRepo+":1.4.1")
		commits := s.scan()
		if wb := s.oneCommitSince(head); len(commits) != 1 || commits[0] != wb {
			t.Fatalf("a tag in range made commits %v; main is at %s", commits, wb)
		}
		checkOnlyImage(t, before, s.workflow(), web140, web141)
		if msg := gittest.Git(t, s.work, "log", "-1", "--format=%B", commits[0]); !strings.Contains(msg, build.PolicyTrailer+": semver ^1.4") {
			t.Errorf("the write-back's message lacks the policy:\n%s", msg)
		}
		s.runs("web", web141)
		if again := s.scan(); len(again) != 0 {
			t.Errorf("a second scan made commits %v", again)
		}

		// At the interval, without a webhook.
		s.hooks.Stop()
		s.hooks.Restart(t, "HOOKS_BUILD_POLICY_INTERVAL=10s")
		before, head = s.workflow(), s.head()
		web142 := webRepo + ":1.4.2@" + registrytest.Push(t, webRepo+":1.4.2")
		s.runs("web", web142)
		s.oneCommitSince(head)
		checkOnlyImage(t, before, s.workflow(), web141, web142)
	})
	t.Run("the status page moves a build's row through its steps in place; a failure shows why; without JavaScript it reads the same", func(t *testing.T) {
		s.t = t
		page := browsertest.Start(t, 8*time.Minute)
		browsertest.KeepScreenshot(t, page, "store-page-builds")
		if err := chromedp.Do(page, chromedp.Navigate(s.hooks.URL+"/workflows/store")); err != nil {
			t.Fatal(err)
		}
		poll := func(what, expr string) {
			t.Helper()
			if _, err := chromedp.Run(page, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(3*time.Minute))); err != nil {
				rows, _ := chromedp.Run(page, chromedp.Evaluate[string](readBuilds))
				t.Fatalf("%s: %v; the builds read:\n%s", what, err, rows)
			}
		}
		poll("the api's builds", `document.querySelector('[data-build-node="api"]') !== null`)
		poll("the stream", `document.querySelector('[data-field="live"]').textContent === "live"`)
		// Set once: a reload would lose it.
		if _, err := chromedp.Run(page, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`)); err != nil {
			t.Fatal(err)
		}

		head := s.head()
		var r build.Record
		if code, err := s.hooks.Call(http.MethodPost, "/api/builds", apiToken, build.Request{Workflow: "store", Node: "api", Commit: commit('c')}, &r); code != http.StatusCreated || err != nil {
			t.Fatalf("POST /api/builds: %d %v", code, err)
		}
		row := fmt.Sprintf(`document.querySelector('[data-build-node="api"] tr[data-build=%q]')`, r.ID)
		poll("the new build's row", row+` !== null && window.notReloaded === true`)
		// The row is kept: each step below must change this element.
		if _, err := chromedp.Run(page, chromedp.Evaluate[chromedp.Void](`window.row = `+row)); err != nil {
			t.Fatal(err)
		}
		step := func(status build.Status, progress int) {
			t.Helper()
			poll(string(status), fmt.Sprintf(`window.notReloaded === true && window.row.isConnected && window.row.className === "build build-%s" &&
				window.row.querySelector('[data-field="build-step"]').textContent === %q &&
				window.row.querySelector('[data-field="build-progress"]').value === %d &&
				window.row.querySelector('[data-field="build-percent"]').textContent === "%d%%"`, status, status, progress, progress))
		}
		// kwok starts the clone as the pod is scheduled; each later step
		// waits for the test to end the one before.
		step(build.Cloning, 10)
		s.end(r.ID, "clone", 0)
		step(build.Building, 30)
		s.end(r.ID, "build", 0)
		step(build.Pushing, 80)
		// The builder's part: the image, pushed where the Job pushes it.
		digest := registrytest.Push(t, r.Registry+"/"+r.ImageName+":"+r.ImageTag)
		s.end(r.ID, "push", 0)
		step(build.Completed, 100)
		done := s.waitBuild(r.ID, build.Completed)
		want := host + "/team/example/shop-api:" + commit('c')[:12] + "@" + digest
		wb := s.oneCommitSince(head)
		if done.FinalImageRef != want || done.WriteBack != wb {
			t.Fatalf("completed build = %+v; want %s written back as main's head %s", done, want, wb)
		}
		poll("the image and write-back", fmt.Sprintf(`window.row.querySelector('[data-field="build-image"]').textContent === %q &&
			window.row.querySelector('[data-field="build-note"]').textContent === %q`, want, "written back in "+wb[:12]))

		var failed build.Record
		if code, err := s.hooks.Call(http.MethodPost, "/api/builds", apiToken, build.Request{Workflow: "store", Node: "api", Commit: commit('d')}, &failed); code != http.StatusCreated || err != nil {
			t.Fatalf("POST /api/builds: %d %v", code, err)
		}
		s.waitBuild(failed.ID, build.Cloning)
		if err := stack.EndBuildStep(t.Context(), buildNamespace, s.buildPod(failed.ID).Name, "clone", 128, "fatal: could not read from remote repository"); err != nil {
			t.Fatal(err)
		}
		poll("the failed build", fmt.Sprintf(`(() => {
			const rows = document.querySelectorAll('[data-build-node="api"] tr[data-build]');
			return rows.length >= 2 && rows[0].dataset.build === %q && rows[0].className === "build build-failed" &&
				rows[0].querySelector('[data-field="build-note"]').textContent === "step clone failed with exit code 128" &&
				rows[1] === window.row && window.notReloaded === true;
		})()`, failed.ID))

		live, err := chromedp.Run(page, chromedp.Evaluate[string](readBuilds))
		if err != nil {
			t.Fatal(err)
		}
		noJS, cancel := chromedp.NewContext(page)
		defer cancel()
		if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(noJS, chromedp.Navigate(s.hooks.URL+"/workflows/store")); err != nil {
			t.Fatal(err)
		}
		static, err := chromedp.Run(noJS, chromedp.Evaluate[string](readBuilds))
		if err != nil {
			t.Fatal(err)
		}
		if static != live || !strings.Contains(static, r.ID) || !strings.Contains(static, failed.ID) {
			t.Errorf("without JavaScript:\n%s\nwith, live:\n%s", static, live)
		}
	})
}
