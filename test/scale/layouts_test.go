package scale_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	slipwatch "github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// TestFluxSwitchLayouts switches a live cluster of three small workflows
// from the shared source to a source per workflow and back, in the order
// docs/flux.md gives (to it: bootstrap with it, then deploy with it; back:
// deploy without it, then bootstrap without it), restarting cmd/hooks
// with HOOKS_FLUX_WORKFLOW_SOURCES flipped. Through each switch no
// workflow's Deployment or pod is deleted (the Deployments keep their
// UIDs, and the pods running before run after), the status page never
// calls an object missing or degraded, every workflow's Kustomization
// ends on the source of the layout with the deploy head applied, the
// refs are those of the layout, and a next push goes live.
func TestFluxSwitchLayouts(t *testing.T) {
	f := startFleetOf(t, smallFleet(3, false, 10*time.Minute))
	ctx := t.Context()
	uids := map[string]types.UID{}
	for i := range f.workflows {
		wf := workflowName(i)
		d, err := f.clusters[0].stack.Client.AppsV1().Deployments(wf).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[wf] = d.UID
	}
	p := f.pusher(t)

	for _, to := range []bool{true, false} {
		name := map[bool]string{true: "to-workflow-sources", false: "to-shared-source"}[to]
		t.Run(name, func(t *testing.T) {
			before := f.pods(t)
			wrong := f.watchStatus(t)
			restart := func() {
				f.hooks.proc.Stop()
				f.hooks.proc.Restart(t, "HOOKS_FLUX_WORKFLOW_SOURCES="+strconv.FormatBool(to))
				f.hooks.pid = f.hooks.proc.PID()
			}
			if to {
				f.workflowSources = true
				f.bootstrap(t)
				restart()
			} else {
				restart()
			}
			head := p.waitLayout(t, to)
			if !to {
				f.workflowSources = false
				f.bootstrap(t)
			}
			f.waitHealthy(t, 5*time.Minute)
			// The restarted service's stream, from where it was healthy.
			p.events = f.hooks.events(t, f.revision)
			if refs := gittest.Git(t, f.bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/slipway/sources/"); to {
				var want []string
				for i := range f.workflows {
					want = append(want, compiler.WorkflowSourceRef("deploy", workflowName(i))+" "+head)
				}
				if refs != strings.Join(want, "\n") {
					t.Errorf("with a source per workflow the refs are:\n%s\nwant:\n%s", refs, strings.Join(want, "\n"))
				}
			} else if refs != "" {
				t.Errorf("with the shared source the refs are:\n%s\nwant none", refs)
			}
			for wf, uid := range uids {
				d, err := f.clusters[0].stack.Client.AppsV1().Deployments(wf).Get(ctx, "web", metav1.GetOptions{})
				if err != nil || d.UID != uid {
					t.Errorf("the Deployment web of %s is another (%v) after the switch", wf, err)
				}
			}
			after := f.pods(t)
			for uid, pod := range before {
				if _, ok := after[uid]; !ok {
					t.Errorf("pod %s was deleted during the switch", pod)
				}
			}
			if got := wrong(); len(got) > 0 {
				t.Errorf("the status page said during the switch: %v", got)
			}
			live, _ := p.push(t)
			t.Logf("the first push after the switch went live in %s", live.Round(time.Millisecond))
		})
	}
}

// pods returns the running pods of the workflows, by UID, once there are
// as many as their Deployments' replicas: the old pods of a rollout are
// gone.
func (f *fleet) pods(t *testing.T) map[types.UID]string {
	t.Helper()
	ctx := t.Context()
	client := f.clusters[0].stack.Client
	selector := metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy}
	var out map[types.UID]string
	var last string
	err := f.clusters[0].stack.Poll(ctx, 5*time.Minute, func() (bool, error) {
		ds, err := client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, selector)
		if err != nil {
			return false, nil // asked again
		}
		pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, selector)
		if err != nil {
			return false, nil
		}
		want := int32(0)
		for _, d := range ds.Items {
			want += ptr.Deref(d.Spec.Replicas, 1)
		}
		out = map[types.UID]string{}
		for _, p := range pods.Items {
			out[p.UID] = p.Namespace + "/" + p.Name
		}
		last = fmt.Sprintf("%d pods for %d replicas", len(out), want)
		return len(out) == int(want), nil
	})
	if err != nil {
		t.Fatalf("the workflows' pods did not settle: %v; last: %s", err, last)
	}
	return out
}

// watchStatus reads /api/status every second until the test ends, and
// returns what reports the lies it told so far: a workflow's objects
// missing or degraded, none of them being.
func (f *fleet) watchStatus(t *testing.T) func() []string {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var o hooks.Overview
			if _, err := f.hooks.get(ctx, "/api/status", &o); err == nil {
				mu.Lock()
				for _, ws := range o.Workflows {
					if ws.Health == slipwatch.Missing || ws.Health == slipwatch.Degraded {
						seen[ws.Name+" "+string(ws.Health)] = true
					}
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for s := range seen {
			out = append(out, s)
		}
		return out
	}
}

// waitLayout waits until the service has deployed the layout
// (workflowSources) and every workflow's Kustomization reads its source
// and applied that deploy head, which it returns.
func (p *pusher) waitLayout(t *testing.T, workflowSources bool) string {
	t.Helper()
	ctx, f := t.Context(), p.f
	var head, last string
	err := f.clusters[0].stack.Poll(ctx, 10*time.Minute, func() (bool, error) {
		head = gittest.Git(t, f.bare, "rev-parse", "deploy")
		file, err := gittest.GitE(ctx, f.bare, "show", "deploy:clusters/"+workflow.DefaultCluster+"/"+workflowName(0)+".yaml")
		if err != nil {
			return false, err
		}
		if strings.Contains(file, compiler.WorkflowSourceRef("deploy", workflowName(0))) != workflowSources {
			last = "the deploy head " + head + " has the other layout"
			return false, nil
		}
		ks, err := p.dyn.Resource(slipwatch.Kustomizations).Namespace(compiler.DefaultFluxNamespace).List(ctx,
			metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy})
		if err != nil {
			return false, nil // asked again
		}
		ready := 0
		for _, k := range ks.Items {
			source, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "name")
			applied, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
			want := compiler.DefaultOptions().SourceRefName
			if workflowSources {
				want = k.GetName()
			}
			if source == want && strings.HasSuffix(applied, "@sha1:"+head) {
				ready++
			}
		}
		last = fmt.Sprintf("%d of %d Kustomizations read their source and applied %s", ready, f.workflows, head)
		return ready == f.workflows, nil
	})
	if err != nil {
		t.Fatalf("the layout did not switch: %v; last: %s", err, last)
	}
	return head
}

// TestFluxRemoveWorkflowSource takes one of three small workflows out of
// a cluster with a source per workflow: its ref is gone with the deploy
// commit without it, and Flux, needing it no more, prunes its Deployment
// and Service, its Kustomization and its GitRepository, while the others
// stay Synced and Healthy.
func TestFluxRemoveWorkflowSource(t *testing.T) {
	f := startFleetOf(t, smallFleet(3, true, 10*time.Minute))
	ctx := t.Context()
	gone := workflowName(1)
	ref := compiler.WorkflowSourceRef("deploy", gone)
	gittest.Commit(t, f.work, "Remove "+gone, map[string][]byte{"workflows/" + gone + ".json": nil})
	gittest.Git(t, f.work, "push", "-q", f.remote, "main")

	// The service deploys it at its next resync, within a minute. The
	// git server's transaction moves the branch and deletes the ref, all
	// or nothing, but a reader may see the one a moment before the other.
	var last string
	err := f.clusters[0].stack.Poll(ctx, 5*time.Minute, func() (bool, error) {
		if _, err := gittest.GitE(ctx, f.bare, "rev-parse", "-q", "--verify", "deploy:"+compiler.WorkflowDir(gone)); err == nil {
			last = "the deploy head still holds " + gone
			return false, nil
		}
		refs := gittest.Git(t, f.bare, "for-each-ref", "--format=%(refname)", "refs/slipway/sources/")
		last = fmt.Sprintf("%s left the deploy branch; the refs are:\n%s", gone, refs)
		return !slices.Contains(strings.Fields(refs), ref), nil
	})
	if err != nil {
		t.Fatalf("%s did not leave the deploy branch with its ref: %v; last: %s", gone, err, last)
	}

	s := f.clusters[0].stack
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Poll(ctx, 5*time.Minute, func() (bool, error) {
		var left []string
		if _, err := s.Client.AppsV1().Deployments(gone).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			left = append(left, "Deployment web")
		}
		if _, err := s.Client.CoreV1().Services(gone).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			left = append(left, "Service web")
		}
		for kind, res := range map[string]schema.GroupVersionResource{"Kustomization": slipwatch.Kustomizations, "GitRepository": slipwatch.GitRepositories} {
			if _, err := dyn.Resource(res).Namespace(compiler.DefaultFluxNamespace).Get(ctx, gone, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, kind+" "+gone)
			}
		}
		last = fmt.Sprintf("%v of %s left", left, gone)
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("Flux did not prune %s: %v; last: %s", gone, err, last)
	}
	f.workflows--
	f.waitHealthy(t, 5*time.Minute)
}
