package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// deployCommits resolves deploy commits to themselves: these tests look at
// which deploy commit is live, not at versions or drift.
type deployCommits struct{ repo *gitrepo.Repo }

func (d deployCommits) Resolve(_ context.Context, commit, _ string) (watch.Revision, error) {
	c, err := d.repo.Resolve(commit)
	if err != nil {
		return watch.Revision{}, err
	}
	return watch.Revision{DeployCommit: c.Hash.String()}, nil
}

func (deployCommits) Expected(context.Context, string, string) ([]watch.Expected, error) {
	return nil, nil
}

// annotate returns the deploy branch's kustomization.yaml of a workflow's
// base with an annotation on every object (pod templates too: a
// Deployment rolls out), so that a commit changes that workflow alone.
func (f *fluxStack) annotate(t *testing.T, workflow, value string) map[string][]byte {
	t.Helper()
	p := "workflows/" + workflow + "/base/kustomization.yaml"
	k := f.deployFile(t, p)
	return map[string][]byte{p: fmt.Appendf(k, "commonAnnotations:\n  slipway.dev/test-change: %q\n", value)}
}

// addConfigMap returns the changes that add a ConfigMap to a workflow's
// base; unlike an annotation, it leaves the workflow's Jobs, whose
// templates cannot change, as they are.
func (f *fluxStack) addConfigMap(t *testing.T, workflow, name string) map[string][]byte {
	t.Helper()
	dir := "workflows/" + workflow + "/base/"
	k := f.deployFile(t, dir+"kustomization.yaml")
	return map[string][]byte{
		dir + "configmap-" + name + ".yaml": fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: %s}\n", name, workflow),
		dir + "kustomization.yaml":          bytes.Replace(k, []byte("resources:\n"), fmt.Appendf(nil, "resources:\n- configmap-%s.yaml\n", name), 1),
	}
}

// setSuspend patches a Kustomization's spec.suspend, as `flux suspend` and
// `flux resume` do.
func (f *fluxStack) setSuspend(t *testing.T, name string, suspend bool) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"suspend":%t}}`, suspend)
	if _, err := f.dyn.Resource(watch.Kustomizations).Namespace("slipway").Patch(t.Context(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// clusterRecord reads the status record of cluster default.
func clusterRecord(t *testing.T, st *store.Store) *hooks.ClusterStatus {
	t.Helper()
	rec, err := st.Status(t.Context(), "clusters/default")
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil {
		return nil
	}
	var cs hooks.ClusterStatus
	if err := json.Unmarshal(rec.Value, &cs); err != nil {
		t.Fatal(err)
	}
	return &cs
}

// setSourceURL patches the GitRepository's spec.url and returns the one
// it had.
func (f *fluxStack) setSourceURL(t *testing.T, url string) string {
	t.Helper()
	ctx := t.Context()
	gr, err := f.dyn.Resource(watch.GitRepositories).Namespace("slipway").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	was, _, _ := unstructured.NestedString(gr.Object, "spec", "url")
	patch := fmt.Appendf(nil, `{"spec":{"url":%q}}`, url)
	if _, err := f.dyn.Resource(watch.GitRepositories).Namespace("slipway").Patch(ctx, "slipway", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	return was
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestFluxStates runs Flux through the states an operator looks at the
// status in: a dependency's deploy, a suspended Kustomization and a
// commit pushed while it is.
func TestFluxStates(t *testing.T) {
	f := startFlux(t)
	ctx := t.Context()
	waitRecord(t, f.Stack, f.st, "jobs", "jobs Healthy and Synced", func(ws *watch.WorkflowStatus) bool {
		return ws.Health == watch.Healthy && ws.Sync.State == watch.Synced
	})
	// waitCluster polls the cluster's record until ok holds.
	waitCluster := func(t *testing.T, what string, ok func(*hooks.ClusterStatus) bool) *hooks.ClusterStatus {
		t.Helper()
		var last *hooks.ClusterStatus
		err := f.Poll(ctx, 3*time.Minute, func() (bool, error) {
			last = clusterRecord(t, f.st)
			return last != nil && ok(last), nil
		})
		if err != nil {
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("%s: %v; last record:\n%s", what, err, b)
		}
		return last
	}
	ready := func(r *watch.Readiness, kind, name string) bool {
		return r != nil && r.Kind == kind && r.Name == name && r.Health == watch.Healthy && r.Revision != ""
	}

	t.Run("the cluster shows its source and cluster Kustomization ready", func(t *testing.T) {
		waitCluster(t, "source and cluster Kustomization ready", func(cs *hooks.ClusterStatus) bool {
			return ready(cs.Source, "GitRepository", "slipway") && ready(cs.Kustomization, "Kustomization", "slipway-default")
		})
	})

	t.Run("a deploy of web alone never shows jobs, which depends on it, failed or degraded", func(t *testing.T) {
		commit := f.push(t, "Change web alone", f.annotate(t, "web", "1"))
		// Sample the record as a reader polling /api/status would, and
		// judge every sample, until jobs runs the new revision.
		seen := map[string]bool{}
		var last *watch.WorkflowStatus
		deadline := time.Now().Add(3 * time.Minute)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		samples := 0
		for {
			last = record(t, f.st, "jobs")
			samples++
			if last.Health == watch.Degraded || last.Sync.State == watch.Failed {
				b, _ := json.MarshalIndent(last, "", "  ")
				t.Fatalf("sample %d shows jobs %s, sync %s:\n%s", samples, last.Health, last.Sync.State, b)
			}
			seen[last.Sync.State+"/"+string(last.Health)] = true
			if last.Sync.State == watch.Synced && last.Sync.Live != nil && last.Sync.Live.DeployCommit == commit {
				break
			}
			if time.Now().After(deadline) {
				b, _ := json.MarshalIndent(last, "", "  ")
				t.Fatalf("jobs did not reach %s: last record:\n%s", commit, b)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-tick.C:
			}
		}
		states := slices.Sorted(func(yield func(string) bool) {
			for s := range seen {
				if !yield(s) {
					return
				}
			}
		})
		t.Logf("%d samples; jobs was %v", samples, states)
	})

	t.Run("suspended, then a commit while suspended is out of sync, then resumed it is synced on the new revision", func(t *testing.T) {
		c, err := watch.NewCluster("default", f.Config, f.log)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { c.Run(cctx); close(done) }()
		defer func() { cancel(); <-done }()
		r := watch.WithDeployHead(deployCommits{f.repo}, f.repo, "deploy")
		waitStatus := func(what string, ok func(watch.WorkflowStatus) bool) watch.WorkflowStatus {
			t.Helper()
			var last watch.WorkflowStatus
			err := f.Poll(ctx, 3*time.Minute, func() (bool, error) {
				last = watch.StatusOf(ctx, c.Snapshot(), "jobs", r)
				return ok(last), nil
			})
			if err != nil {
				b, _ := json.MarshalIndent(last, "", "  ")
				t.Fatalf("%s: %v; last status:\n%s", what, err, b)
			}
			return last
		}
		f.setSuspend(t, "jobs", true)
		ws := waitStatus("jobs Suspended", func(ws watch.WorkflowStatus) bool { return ws.Sync.State == string(watch.Suspended) })
		if ws.Health != watch.Suspended || !ws.Sync.Suspended {
			t.Errorf("a suspended workflow reads %s, suspended %t", ws.Health, ws.Sync.Suspended)
		}

		commit := f.push(t, "Change jobs while it is suspended", f.addConfigMap(t, "jobs", "while-suspended"))
		ws = waitStatus("jobs OutOfSync", func(ws watch.WorkflowStatus) bool { return ws.Sync.State == watch.OutOfSync })
		if ws.Sync.Head == nil || ws.Sync.Head.DeployCommit != commit || !ws.Sync.Suspended || ws.Health == watch.Healthy {
			t.Errorf("out of sync while suspended: head %+v (want %s), suspended %t, health %s", ws.Sync.Head, commit, ws.Sync.Suspended, ws.Health)
		}

		f.setSuspend(t, "jobs", false)
		reconcileNow(t, f.dyn, "jobs")
		ws = waitStatus("jobs Synced on the new revision", func(ws watch.WorkflowStatus) bool {
			return ws.Sync.State == watch.Synced && ws.Sync.Live != nil && ws.Sync.Live.DeployCommit == commit
		})
		if ws.Sync.Head != nil || ws.Sync.Suspended {
			t.Errorf("resumed and synced, yet head %+v, suspended %t", ws.Sync.Head, ws.Sync.Suspended)
		}
	})

	t.Run("the source's URL broken: the cluster and its workflows say the source fails; restored, synced again", func(t *testing.T) {
		url := f.setSourceURL(t, fmt.Sprintf("http://127.0.0.1:%d/e2e.git", closedPort(t)))
		cs := waitCluster(t, "the cluster's source failing", func(cs *hooks.ClusterStatus) bool {
			return cs.Source != nil && cs.Source.Health == watch.Degraded
		})
		if cs.Health != watch.Degraded || !strings.Contains(cs.Reason, "source slipway/slipway: fetch failed") {
			t.Errorf("the cluster reads %+v; source %+v", cs.Result, cs.Source)
		}
		for _, wf := range []string{"web", "jobs"} {
			ws := waitRecord(t, f.Stack, f.st, wf, wf+" says its source fails", func(ws *watch.WorkflowStatus) bool {
				return ws.Sync.State == watch.Failed
			})
			if ws.Health == watch.Healthy || !strings.Contains(ws.Sync.Message, "source slipway/slipway: fetch failed") || ws.Sync.Reason != cs.Source.FluxReason {
				t.Errorf("%s: health %+v, sync %+v", wf, ws.Result, ws.Sync)
			}
		}

		f.setSourceURL(t, url)
		waitCluster(t, "the cluster's source ready again", func(cs *hooks.ClusterStatus) bool {
			return ready(cs.Source, "GitRepository", "slipway") && !strings.Contains(cs.Reason, "source slipway/slipway")
		})
		waitRecord(t, f.Stack, f.st, "jobs", "jobs Synced again", func(ws *watch.WorkflowStatus) bool {
			return ws.Sync.State == watch.Synced && ws.Health == watch.Healthy
		})
	})

	t.Run("a health check that fails: the attempted revision is live, applied, unhealthy, and what Flux applied is no drift", func(t *testing.T) {
		// A short timeout first, so that Flux gives up on web's health
		// within the test.
		p := "clusters/default/web.yaml"
		k := timeoutRE.ReplaceAll(f.deployFile(t, p), []byte("timeout: 20s"))
		f.push(t, "Check web's health for 20s", map[string][]byte{p: k})
		reconcileNow(t, f.dyn, "slipway-default")
		err := f.Poll(ctx, 2*time.Minute, func() (bool, error) {
			k, err := f.dyn.Resource(watch.Kustomizations).Namespace("slipway").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			timeout, _, _ := unstructured.NestedString(k.Object, "spec", "timeout")
			return timeout == "20s", nil
		})
		if err != nil {
			t.Fatalf("web's Kustomization did not take the timeout: %v", err)
		}
		waitRecord(t, f.Stack, f.st, "web", "web Synced on the short timeout", func(ws *watch.WorkflowStatus) bool {
			return ws.Sync.State == watch.Synced
		})

		// Pods no node takes, and a new ConfigMap.
		changes := f.addConfigMap(t, "web", "web-extra")
		changes["workflows/web/base/deployment-web.yaml"] = unschedulable(t, f.deployFile(t, "workflows/web/base/deployment-web.yaml"))
		commit := f.push(t, "Roll web out to pods no node takes", changes)
		ws := waitRecord(t, f.Stack, f.st, "web", "web's health check failed", func(ws *watch.WorkflowStatus) bool {
			return ws.Sync.State == watch.Failed && ws.Sync.Reason == "HealthCheckFailed"
		})
		if ws.Sync.Live == nil || ws.Sync.Live.DeployCommit != commit || !ws.Sync.Unhealthy || !strings.HasPrefix(ws.Sync.Message, "applied, unhealthy") {
			t.Errorf("live %+v, unhealthy %t, message %q; want %s applied, unhealthy", ws.Sync.Live, ws.Sync.Unhealthy, ws.Sync.Message, commit)
		}
		if !ws.Drift.Empty() {
			t.Errorf("drift %+v, want none: Flux applied the revision it checked", ws.Drift)
		}
	})
}

// timeoutRE matches the timeout of a Flux Kustomization's spec.
var timeoutRE = regexp.MustCompile(`(?m)timeout: \S+`)

// unschedulable returns a Deployment's manifest with pods no node takes:
// its rollout never completes.
func unschedulable(t *testing.T, manifest []byte) []byte {
	t.Helper()
	var d map[string]any
	if err := yaml.Unmarshal(manifest, &d); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(d, map[string]any{"slipway.dev/no-such-node": "true"}, "spec", "template", "spec", "nodeSelector"); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
