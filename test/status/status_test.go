// Package status_test runs the live status against the real stack: a
// kube-apiserver with kwok, Flux's controllers pulling a deploy branch over
// smart HTTP, an embedded etcd and the status publisher.
package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/hooks/ui"
	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

// record reads a workflow's status record.
func record(t *testing.T, st *store.Store, name string) *watch.WorkflowStatus {
	t.Helper()
	ws, err := hooks.ReadWorkflowStatus(t.Context(), st, name)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// waitRecord polls a workflow's record until ok holds.
func waitRecord(t *testing.T, s *kubetest.Stack, st *store.Store, name, what string, ok func(*watch.WorkflowStatus) bool) *watch.WorkflowStatus {
	t.Helper()
	var last *watch.WorkflowStatus
	began := time.Now()
	err := s.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		last = record(t, st, name)
		return last != nil && ok(last), nil
	})
	if err != nil {
		b, _ := json.MarshalIndent(last, "", "  ")
		t.Fatalf("%s: %v; last record:\n%s", what, err, b)
	}
	t.Logf("%s after %s", what, time.Since(began).Round(time.Millisecond))
	return last
}

// reconcileNow asks Flux to apply a Kustomization now, as `flux reconcile
// kustomization` does.
func reconcileNow(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, hooks.RequestedAtAnnotation, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := dyn.Resource(watch.Kustomizations).Namespace("slipway").Patch(t.Context(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fluxStack is a stack whose Flux applies the e2e fixtures' deploy
// branch, and the status publisher writing what it sees to an embedded
// etcd.
type fluxStack struct {
	*kubetest.Stack
	gitRoot  string
	repo     *gitrepo.Repo
	res      *deployer.Result
	st       *store.Store
	dyn      dynamic.Interface
	log      *slog.Logger
	contexts func([]string) (map[string]*rest.Config, error)
}

// startFlux starts a stack with Flux bootstrapped on the e2e fixtures'
// deploy branch and a status publisher, stopped when the test ends.
func startFlux(t *testing.T) *fluxStack {
	t.Helper()
	s, gitRoot := kubetest.ForTest(t, binDir, true)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	repo, res := deploytest.Deploy(t, "../../fixtures/e2e", filepath.Join(gitRoot, "e2e.git"))
	bootstrap := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: slipway}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: slipway, namespace: slipway}
spec:
  interval: 10m
  url: %s
  ref: {branch: deploy}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: slipway-default, namespace: slipway}
spec:
  interval: 10m
  path: ./clusters/default
  prune: true
  sourceRef: {kind: GitRepository, name: slipway}
`, s.GitURL("e2e.git"))
	if err := s.Apply(ctx, []byte(bootstrap)); err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	contexts := func([]string) (map[string]*rest.Config, error) {
		return map[string]*rest.Config{"default": s.Config}, nil
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := hooks.NewStatusPublisher(hooks.StatusPublisherConfig{Store: st, Deploy: repo, DeployBranch: "deploy", Source: repo, Contexts: contexts,
		ID: "test", Log: log, MinWrite: 200 * time.Millisecond, Refresh: time.Second, Compiler: c, SourceBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- pub.Run(pctx) }()
	t.Cleanup(func() { stop(); <-done })
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &fluxStack{Stack: s, gitRoot: gitRoot, repo: repo, res: res, st: st, dyn: dyn, log: log, contexts: contexts}
}

// push commits changes to a clone of the deploy branch, pushes it, asks
// Flux to fetch it and waits until it has; it returns the new commit.
func (f *fluxStack) push(t *testing.T, message string, changes map[string][]byte) string {
	t.Helper()
	ctx := t.Context()
	clone := filepath.Join(t.TempDir(), "deploy")
	gittest.Git(t, filepath.Dir(clone), "clone", "-q", "-b", "deploy", filepath.Join(f.gitRoot, "e2e.git"), clone)
	commit := gittest.Commit(t, clone, message, changes)
	gittest.Git(t, clone, "push", "-q", "origin", "deploy")
	src, err := hooks.NewFluxSource(hooks.FluxSourceConfig{Contexts: func() (map[string]*rest.Config, error) { return f.contexts(nil) },
		Namespace: "slipway", Name: "slipway", Log: f.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.RequestReconcile(ctx); err != nil {
		t.Fatal(err)
	}
	err = f.Poll(ctx, 2*time.Minute, func() (bool, error) {
		gr, err := f.dyn.Resource(watch.GitRepositories).Namespace("slipway").Get(ctx, "slipway", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		rev, _, _ := unstructured.NestedString(gr.Object, "status", "artifact", "revision")
		return watch.CommitOf(rev) == commit, nil
	})
	if err != nil {
		t.Fatalf("source-controller did not fetch %s: %v", commit, err)
	}
	return commit
}

// deployFile reads a file of the deploy branch's head.
func (f *fluxStack) deployFile(t *testing.T, p string) []byte {
	t.Helper()
	head, err := f.repo.Resolve("deploy")
	if err != nil {
		t.Fatal(err)
	}
	files, err := f.repo.Dir(head, path.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := files[path.Base(p)]
	if !ok {
		t.Fatalf("the deploy branch has no %s", p)
	}
	return b
}

func TestLiveStatus(t *testing.T) {
	f := startFlux(t)
	s, repo, res, st, dyn, log, contexts := f.Stack, f.repo, f.res, f.st, f.dyn, f.log, f.contexts
	ctx := t.Context()

	t.Run("a workflow applied through Flux turns Healthy with its live version", func(t *testing.T) {
		ws := waitRecord(t, s, st, "jobs", "jobs Healthy and Synced", func(ws *watch.WorkflowStatus) bool {
			return ws.Health == watch.Healthy && ws.Sync.State == watch.Synced && ws.Sync.Live != nil
		})
		live := ws.Sync.Live
		if live.DeployCommit != res.DeployCommit || live.SourceCommit != res.SourceCommit || live.Version != 1 {
			t.Errorf("live %+v, want deploy %s source %s version 1", live, res.DeployCommit, res.SourceCommit)
		}
		var ids []string
		for _, n := range ws.Nodes {
			ids = append(ids, n.ID+"="+string(n.Health))
		}
		if !slices.Equal(ids, []string{"agent=Healthy", "migrate=Healthy", "report=Healthy"}) {
			t.Errorf("nodes %v", ids)
		}
	})
	t.Run("a workflow's nodes carry their own health and reasons", func(t *testing.T) {
		ws := waitRecord(t, s, st, "web", "web's deployment Healthy", func(ws *watch.WorkflowStatus) bool {
			return ws.Sync.Live != nil && nodeHealth(ws, "web") == watch.Healthy && nodeHealth(ws, "svc") == watch.Healthy
		})
		// No ingress controller runs and no metrics server: as kstatus
		// says, an Ingress without an address is current, and an
		// autoscaler without metrics keeps the replicas there are; the
		// figures show what there is.
		if h := nodeHealth(ws, "ing"); h != watch.Healthy {
			t.Errorf("ingress without an address: %s", h)
		}
		if h := nodeHealth(ws, "hpa"); h != watch.Healthy {
			t.Errorf("autoscaler without metrics: %s", h)
		}
	})
	t.Run("a Deployment that cannot run its pods turns its node Degraded, and back", func(t *testing.T) {
		deployments := s.Client.AppsV1().Deployments("web")
		// A template no node takes, rolled out by Recreate: the old pods
		// go first and no new one runs. It is Progressing, as kstatus
		// says, until its progress deadline passes. (Replicas cannot make
		// it short: the workflow's HPA sets them back.)
		broken := []byte(`{"spec":{"progressDeadlineSeconds":5,"strategy":{"type":"Recreate","rollingUpdate":null},"template":{"spec":{"nodeSelector":{"slipway.dev/no-such-node":"true"}}}}}`)
		if _, err := deployments.Patch(ctx, "web", types.MergePatchType, broken, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		ws := waitRecord(t, s, st, "web", "web's node Degraded", func(ws *watch.WorkflowStatus) bool {
			return nodeHealth(ws, "web") == watch.Degraded
		})
		if !strings.Contains(ws.Reason, "Deployment web: Progress deadline exceeded") {
			t.Errorf("the workflow's reason does not name the Deployment: %q", ws.Reason)
		}
		fixed := []byte(`{"spec":{"template":{"spec":{"nodeSelector":null}}}}`)
		if _, err := deployments.Patch(ctx, "web", types.MergePatchType, fixed, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRecord(t, s, st, "web", "web's node Healthy again", func(ws *watch.WorkflowStatus) bool {
			return nodeHealth(ws, "web") == watch.Healthy
		})
	})
	t.Run("after kube-apiserver restarts, watches recover: a deleted object shows as drift, and Flux's repair too", func(t *testing.T) {
		if err := s.Restart(ctx, "kube-apiserver"); err != nil {
			t.Fatal(err)
		}
		if err := s.Client.CoreV1().ConfigMaps("web").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		waitRecord(t, s, st, "web", "the deleted ConfigMap shown missing", func(ws *watch.WorkflowStatus) bool {
			return slices.Contains(ws.Drift.Missing, watch.Ref{Kind: "ConfigMap", Namespace: "web", Name: "web"}) && nodeHealth(ws, "cm") == watch.Missing
		})
		if took := time.Since(deleted); took > 10*time.Second {
			t.Errorf("the status was right again %s after the restart, want within 10s", took.Round(time.Millisecond))
		}
		reconcileNow(t, dyn, "web")
		waitRecord(t, s, st, "web", "Flux's repair seen", func(ws *watch.WorkflowStatus) bool {
			return ws.Drift.Empty() && nodeHealth(ws, "cm") == watch.Healthy
		})
	})
	t.Run("the reconcile request reaches Flux", func(t *testing.T) {
		src, err := hooks.NewFluxSource(hooks.FluxSourceConfig{Contexts: func() (map[string]*rest.Config, error) { return contexts(nil) }, Namespace: "slipway", Name: "slipway", Log: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.RequestReconcile(ctx); err != nil {
			t.Fatal(err)
		}
		gr, err := dyn.Resource(watch.GitRepositories).Namespace("slipway").Get(ctx, "slipway", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := gr.GetAnnotations()[hooks.RequestedAtAnnotation]
		if want == "" {
			t.Fatal("no requestedAt annotation")
		}
		err = s.Poll(ctx, time.Minute, func() (bool, error) {
			gr, err := dyn.Resource(watch.GitRepositories).Namespace("slipway").Get(ctx, "slipway", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got, _, _ := unstructured.NestedString(gr.Object, "status", "lastHandledReconcileAt")
			return got == want, nil
		})
		if err != nil {
			t.Errorf("source-controller did not handle the request: %v", err)
		}
	})
	t.Run("a deploy Flux cannot apply shows the failed revision and Flux's message; the previous version stays live", func(t *testing.T) {
		kust := f.deployFile(t, "workflows/jobs/base/kustomization.yaml")
		// A ConfigMap name the API server refuses: Flux's dry-run fails.
		bad := f.push(t, "Add an object the API server refuses", map[string][]byte{
			"workflows/jobs/base/configmap-bad.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n"),
			"workflows/jobs/base/kustomization.yaml": append(kust, "- configmap-bad.yaml\n"...),
		})
		reconcileNow(t, dyn, "jobs")
		ws := waitRecord(t, s, st, "jobs", "the failed apply shown", func(ws *watch.WorkflowStatus) bool {
			return ws.Sync.State == watch.Failed && ws.Sync.Attempted != nil && ws.Sync.Attempted.DeployCommit == bad
		})
		if live := ws.Sync.Live; live == nil || live.DeployCommit != res.DeployCommit || live.Version != 1 {
			t.Errorf("live %+v, want the previous deploy %s, version 1", live, res.DeployCommit)
		}
		if !strings.Contains(ws.Sync.Message, "Not_A_Name") {
			t.Errorf("Flux's message does not name the refused object: %q", ws.Sync.Message)
		}

		app := fiber.New()
		statusAPI, err := hooks.NewStatusAPI(hooks.StatusAPIConfig{Reader: st, Heartbeat: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		statusAPI.Mount(app)
		page, err := ui.New(ui.Config{Status: st, Source: repo, SourceBranch: "main", Deploy: repo, DeployBranch: "deploy", Kubeconfig: true, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		page.Mount(app)
		body := func(path string) string {
			resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
			}
			return string(b)
		}
		var api watch.WorkflowStatus
		if err := json.Unmarshal([]byte(body("/api/workflows/jobs/status")), &api); err != nil {
			t.Fatal(err)
		}
		if api.Sync.State != watch.Failed || api.Sync.Attempted == nil || api.Sync.Attempted.DeployCommit != bad ||
			api.Sync.Live == nil || api.Sync.Live.DeployCommit != res.DeployCommit || api.Sync.Message == "" {
			t.Errorf("GET /api/workflows/jobs/status: sync %+v", api.Sync)
		}
		html := body("/workflows/jobs")
		for _, want := range []string{`data-field="sync">Failed</span>`, "attempted", bad[:12], res.SourceCommit[:12], "Not_A_Name"} {
			if !strings.Contains(html, want) {
				t.Errorf("the workflow page lacks %q", want)
			}
		}
	})
}

func nodeHealth(ws *watch.WorkflowStatus, id string) watch.Health {
	for _, n := range ws.Nodes {
		if n.ID == id {
			return n.Health
		}
	}
	return ""
}
