package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-gitops/slipway/gitrepo"
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
		dir + "kustomization.yaml":          fmt.Appendf(k, "- configmap-%s.yaml\n", name),
	}
}

// setSuspend patches a Kustomization's spec.suspend, as `flux suspend` and
// `flux resume` do.
func (f *fluxStack) setSuspend(t *testing.T, name string, suspend bool) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"suspend":%t}}`, suspend)
	if _, err := f.dyn.Resource(watch.Kustomizations).Namespace("flux-system").Patch(t.Context(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
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
}
