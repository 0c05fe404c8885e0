// Package rollout_test shows on the real stack what the compiler does so
// that ordinary edits do what their author expects: a ConfigMap edit rolls
// the pods of the workload that reads it, and linking an hpa to a running
// Deployment hands its replicas to the HPA without the count ever
// dropping, nor Flux setting it back over the HPA's.
package rollout_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

// ns is the namespace of the workflow shop.
const ns = "shop"

// shop is the workflow: a 3-replica Deployment web that mounts the
// ConfigMap web-config (greeting), with, when minReplicas is not 0, an
// hpa that scales it.
func shop(greeting string, minReplicas int) []byte {
	nodes := []any{
		map[string]any{"id": "web", "type": "deployment", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "web", "image": "nginx:1.27", "replicas": 3, "port": 8080, "resources": map[string]any{"requests": map[string]any{"cpu": "50m"}}}},
		map[string]any{"id": "cm", "type": "configmap", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "web-config", "data": map[string]any{"greeting": greeting}}},
	}
	edges := []any{map[string]any{"id": "e1", "source": "cm", "target": "web"}}
	if minReplicas != 0 {
		nodes = append(nodes, map[string]any{"id": "hpa", "type": "hpa", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "web", "minReplicas": minReplicas, "maxReplicas": 6, "targetCPUUtilization": 80}})
		edges = append(edges, map[string]any{"id": "e2", "source": "hpa", "target": "web"})
	}
	b, err := json.Marshal(map[string]any{"name": "shop", "namespace": ns, "status": "published", "nodes": nodes, "edges": edges})
	if err != nil {
		panic(err)
	}
	return b
}

// fixture is the workflows repository, its deployer and the stack.
type fixture struct {
	t    *testing.T
	s    *kubetest.Stack
	dyn  dynamic.Interface
	work string // a clone that commits and pushes to bare
	bare string
	d    *deployer.Deployer
}

// commit commits workflow b, deploys it and has Flux fetch it, and waits
// until Flux has applied the deploy commit and found it healthy.
func (f *fixture) commit(message string, b []byte) {
	f.t.Helper()
	gittest.Commit(f.t, f.work, message, map[string][]byte{workflow.WorkflowFile("shop"): b})
	gittest.Git(f.t, f.work, "push", "-q", f.bare, "main")
	res, err := f.d.Deploy(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, hooks.RequestedAtAnnotation, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := f.dyn.Resource(watch.GitRepositories).Namespace("slipway").Patch(f.t.Context(), compiler.DefaultOptions().SourceRefName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		f.t.Fatal(err)
	}
	var last *unstructured.Unstructured
	err = f.s.Poll(f.t.Context(), 3*time.Minute, func() (bool, error) {
		k, err := f.dyn.Resource(watch.Kustomizations).Namespace("slipway").Get(f.t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = k
		rev, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
		conds, _, _ := unstructured.NestedSlice(k.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
				return strings.HasSuffix(rev, res.DeployCommit), nil
			}
		}
		return false, nil
	})
	if err != nil {
		var status any
		if last != nil {
			status = last.Object["status"]
		}
		f.t.Fatalf("%s: Flux applied %s: %v; status %v", message, res.DeployCommit, err, status)
	}
}

// web returns the Deployment web.
func (f *fixture) web() *appsv1.Deployment {
	f.t.Helper()
	d, err := f.s.Client.AppsV1().Deployments(ns).Get(f.t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// waitWeb waits until ok holds for the Deployment web.
func (f *fixture) waitWeb(what string, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	f.t.Helper()
	var d *appsv1.Deployment
	if err := f.s.Poll(f.t.Context(), 3*time.Minute, func() (bool, error) {
		got, err := f.s.Client.AppsV1().Deployments(ns).Get(f.t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return false, nil // not applied yet
		}
		d = got
		return ok(d), nil
	}); err != nil {
		f.t.Fatalf("%s: %v; last %v", what, err, d)
	}
	return d
}

// rolledOut holds when every replica of the newest template is available.
func rolledOut(d *appsv1.Deployment) bool {
	st, want := d.Status, *d.Spec.Replicas
	return st.ObservedGeneration == d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want
}

// replicaLog records every spec.replicas of the Deployment web that the
// API server stores, from a watch: each write, not a sample of them.
type replicaLog struct {
	mu sync.Mutex
	// counts are the distinct counts in the order written; writes is how
	// many versions of the Deployment were seen.
	counts []int32
	writes int
}

func (l *replicaLog) add(n int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	if len(l.counts) == 0 || l.counts[len(l.counts)-1] != n {
		l.counts = append(l.counts, n)
	}
}

// since returns the counts recorded from index i on, and the index after;
// the count at index i-1 was still the Deployment's when it returned.
func (l *replicaLog) since(i int) ([]int32, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int32(nil), l.counts[i:]...), len(l.counts)
}

// versions returns how many versions of the Deployment were seen.
func (l *replicaLog) versions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

// record watches the Deployment web from resource version rv until the
// test ends.
func (f *fixture) record(rv string) *replicaLog {
	f.t.Helper()
	w, err := f.s.Client.AppsV1().Deployments(ns).Watch(f.t.Context(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", "web").String(), ResourceVersion: rv})
	if err != nil {
		f.t.Fatal(err)
	}
	l := &replicaLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Spec.Replicas != nil {
				l.add(*d.Spec.Replicas)
			}
		}
	}()
	f.t.Cleanup(func() { w.Stop(); <-done })
	return l
}

func TestRollout(t *testing.T) {
	s, gitRoot := kubetest.ForTest(t, binDir, true)
	ctx := t.Context()
	f := &fixture{t: t, s: s, work: gittest.Init(t), bare: filepath.Join(gitRoot, "shop.git")}
	var err error
	if f.dyn, err = dynamic.NewForConfig(s.Config); err != nil {
		t.Fatal(err)
	}
	gittest.InitBare(t, f.bare)
	gittest.Commit(t, f.work, "Add shop", map[string][]byte{workflow.WorkflowFile("shop"): shop("hello", 0)})
	gittest.Git(t, f.work, "push", "-q", f.bare, "main")
	repo, err := gitrepo.Open(ctx, f.bare, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.d, err = deployer.New(repo, repo, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}}); err != nil {
		t.Fatal(err)
	}
	res, err := f.d.Deploy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: "default", URL: s.GitURL("shop.git"), Branch: "deploy", Interval: time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	t.Logf("deployed %s", res.DeployCommit)
	start := f.waitWeb("web rolled out with 3 replicas", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 3 && rolledOut(d) })
	log := f.record(start.ResourceVersion)
	seen := 0

	t.Run("an hpa linked to a 3-replica Deployment: the count never drops below 3", func(t *testing.T) {
		// Before the compiler kept the count, this apply removed
		// spec.replicas, the API server set 1 and the HPA then 2: the log
		// read [1 2]. Now web renders as before and Flux leaves it alone.
		f.commit("Autoscale web", shop("hello", 2))
		// The HPA controller has looked at web once it reports whether it
		// can scale; without metrics it leaves 2 ≤ 3 ≤ 6 alone.
		if err := s.Poll(ctx, 3*time.Minute, func() (bool, error) {
			h, err := s.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && len(h.Status.Conditions) > 0, nil
		}); err != nil {
			t.Fatalf("the HPA controller acted: %v", err)
		}
		d := f.web()
		var counts []int32
		counts, seen = log.since(seen)
		t.Logf("spec.replicas of the %d versions of web seen since it ran 3: %v (now %d)", log.versions(), counts, *d.Spec.Replicas)
		for _, n := range counts {
			if n < 3 {
				t.Errorf("spec.replicas went to %d during the apply: %v", n, counts)
			}
		}
		if *d.Spec.Replicas != 3 {
			t.Errorf("spec.replicas %d, want 3", *d.Spec.Replicas)
		}
	})

	t.Run("a ConfigMap value edit replaces the pods by a rollout", func(t *testing.T) {
		before := f.web()
		pods := f.pods()
		f.commit("Greet differently", shop("hi", 2))
		after := f.waitWeb("web rolled out its new template", func(d *appsv1.Deployment) bool { return d.Generation > before.Generation && rolledOut(d) })
		hash := func(d *appsv1.Deployment) string { return d.Spec.Template.Annotations[compiler.AnnotationConfigHash] }
		if hash(after) == "" || hash(after) == hash(before) {
			t.Errorf("config hash %q, was %q", hash(after), hash(before))
		}
		// Deleted pods may linger while they terminate; none may run on.
		if err := s.Poll(ctx, 3*time.Minute, func() (bool, error) {
			for uid := range f.pods() {
				if pods[uid] {
					return false, nil
				}
			}
			return true, nil
		}); err != nil {
			t.Errorf("pods of the old template still run: %v", err)
		}
		if n := len(f.pods()); n != 3 {
			t.Errorf("%d pods run, want 3", n)
		}
		var counts []int32
		counts, seen = log.since(seen)
		for _, n := range counts {
			if n != 3 {
				t.Errorf("spec.replicas went to %d during the rollout: %v", n, counts)
			}
		}
	})

	t.Run("Flux applies the HPA's count, not the rendered one", func(t *testing.T) {
		f.commit("Keep at least 4", shop("hi", 4))
		f.waitWeb("the HPA scaled web to its minimum 4", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 4 && rolledOut(d) })
		before := f.web()
		// The new template makes Flux apply web, with the HPA's count in
		// place of the rendered 3 (without the Kustomization's ignore rule
		// the log read [4 3 4]).
		f.commit("Greet once more", shop("hey", 4))
		after := f.waitWeb("web rolled out its new template", func(d *appsv1.Deployment) bool { return d.Generation > before.Generation && rolledOut(d) })
		var counts []int32
		counts, seen = log.since(seen)
		t.Logf("spec.replicas of the %d versions of web seen so far: %v since the previous step", log.versions(), counts)
		if *after.Spec.Replicas != 4 {
			t.Errorf("spec.replicas %d after Flux applied the Deployment, want the HPA's 4", *after.Spec.Replicas)
		}
		// Once the HPA set 4, nobody set another count.
		for i, n := range counts {
			if n == 4 && len(counts) > i+1 {
				t.Errorf("spec.replicas changed after the HPA set 4: %v", counts)
			}
		}
	})
}

// pods returns the UIDs of web's pods that are not terminating.
func (f *fixture) pods() map[types.UID]bool {
	f.t.Helper()
	list, err := f.s.Client.CoreV1().Pods(ns).List(f.t.Context(), metav1.ListOptions{LabelSelector: workflow.LabelName + "=web"})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[types.UID]bool{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out[p.UID] = true
		}
	}
	return out
}
