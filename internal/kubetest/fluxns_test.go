package kubetest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// fluxSystem is Flux's own namespace, where the operator's Flux objects
// live and, before they had a namespace of their own, Slipway's did.
const fluxSystem = "flux-system"

// TestOperatorKustomizationUntouched gives an operator's Flux, in
// flux-system, a Kustomization named shop with a source and objects of its
// own, then deploys Slipway's workflow shop: Slipway's Kustomization lives
// in Slipway's namespace, and after three of its reconciles the
// operator's has the same spec and inventory and its objects the same
// identity.
func TestOperatorKustomizationUntouched(t *testing.T) {
	s := needStack(t)
	t.Parallel()
	ctx := t.Context()

	opts := compiler.DefaultOptions()
	opts.SourceRefName = "operator-clash"
	e := newFluxEnv(t, s, "operator-clash", opts.SourceRefName).with(opts)

	// The operator's repository, source and Kustomization.
	own := gittest.Init(t)
	gittest.Commit(t, own, "The operator's shop", map[string][]byte{"configmap.yaml": []byte(
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: operator-shop}\ndata: {owner: platform-team}\n")})
	gittest.InitBare(t, filepath.Join(gitRoot, "operator.git"))
	gittest.Git(t, own, "push", "-q", filepath.Join(gitRoot, "operator.git"), "main")
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "operator-shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, fmt.Appendf(nil, `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: operator, namespace: flux-system}
spec:
  interval: 10m
  url: %s
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop, namespace: flux-system}
spec:
  interval: 10m
  path: ./
  prune: true
  targetNamespace: operator-shop
  sourceRef: {kind: GitRepository, name: operator}
`, s.GitURL("operator.git"))); err != nil {
		t.Fatal(err)
	}
	operator := func() *unstructured.Unstructured {
		k, err := e.dyn.Resource(kustomizations).Namespace(fluxSystem).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if err := s.Poll(ctx, fluxWait, func() (bool, error) {
		k := operator()
		st, _ := condition(k, "Ready")
		entries, _, _ := unstructured.NestedSlice(k.Object, "status", "inventory", "entries")
		return st == "True" && len(entries) == 1, nil
	}); err != nil {
		t.Fatalf("the operator's Kustomization is not Ready: %v", err)
	}
	before := operator()
	cm, err := s.Client.CoreV1().ConfigMaps("operator-shop").Get(ctx, "operator-shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Slipway's workflow shop, in Slipway's own namespace.
	e.commit("Add the shop workflow", map[string][]byte{
		"clusters/clash.json": []byte(`{"name": "clash", "default": true}`),
		"workflows/shop.json": []byte(`{"name": "shop", "status": "published", "namespace": "clash-shop", "nodes": [
			{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "shop-config", "data": {"owner": "slipway"}}}], "edges": []}`),
	})
	deployed, err := e.deploy()
	if err != nil {
		t.Fatal(err)
	}
	e.bootstrap("clash")
	e.waitApplied(deployed, compiler.ClusterKustomizationName("clash"), "shop")
	for i := range 3 {
		e.reconcile("shop", fmt.Sprintf("operator-clash-%d", i))
	}

	after := operator()
	for _, field := range [][]string{{"spec"}, {"status", "inventory"}} {
		b, _, _ := unstructured.NestedFieldNoCopy(before.Object, field...)
		a, _, _ := unstructured.NestedFieldNoCopy(after.Object, field...)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("the operator's Kustomization's %s changed: %v, then %v", strings.Join(field, "."), b, a)
		}
	}
	if after.GetGeneration() != before.GetGeneration() {
		t.Errorf("the operator's Kustomization's generation moved from %d to %d", before.GetGeneration(), after.GetGeneration())
	}
	if st, msg := condition(after, "Ready"); st != "True" {
		t.Errorf("the operator's Kustomization is not Ready: %s", msg)
	}
	cm2, err := s.Client.CoreV1().ConfigMaps("operator-shop").Get(ctx, "operator-shop", metav1.GetOptions{})
	if err != nil || cm2.UID != cm.UID {
		t.Errorf("the operator's ConfigMap was deleted or re-created: %v (UID %s, then %v)", err, cm.UID, cm2)
	}
}

// reconcile asks Flux to reconcile the Kustomization name now, as flux
// reconcile does, and waits until it has, Ready.
func (e *fluxEnv) reconcile(name, at string) {
	e.t.Helper()
	ctx := e.t.Context()
	patch := fmt.Appendf(nil, `{"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": %q}}}`, at)
	if _, err := e.dyn.Resource(kustomizations).Namespace(e.opts.SourceRefNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
	var last string
	if err := e.s.Poll(ctx, fluxWait, func() (bool, error) {
		k, err := e.dyn.Resource(kustomizations).Namespace(e.opts.SourceRefNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		handled, _, _ := unstructured.NestedString(k.Object, "status", "lastHandledReconcileAt")
		st, msg := condition(k, "Ready")
		last = fmt.Sprintf("handled %q, Ready=%s %s", handled, st, msg)
		return handled == at && st == "True", nil
	}); err != nil {
		e.t.Fatalf("Kustomization %s did not reconcile at %s: %v (%s)", name, at, err, last)
	}
}

// TestMoveFromFluxSystem deploys a stateful workflow with Slipway's Flux
// objects in flux-system, as before they had a namespace of their own,
// then moves them to Slipway's namespace as docs/flux.md says: bootstrap
// with --move-from-namespace, the old cluster Kustomization released
// (deletionPolicy Orphan) and deleted, a deploy with
// --move-from-namespace, then one without. Every Deployment,
// StatefulSet, claim and pod keeps its identity, no container restarts,
// and the old Kustomizations are gone.
func TestMoveFromFluxSystem(t *testing.T) {
	s := needStack(t)
	t.Parallel()
	ctx := t.Context()
	const ns, cluster = "store-move", "moving"
	persistentVolumes(t, s, "manual", 2)
	e := newFluxEnv(t, s, "moving", "moving")
	opts := e.opts
	opts.SourceRefNamespace = fluxSystem
	e = e.with(opts)
	src := gittest.CopyDir(t, statefulSource, e.work, "")
	src["workflows/store.json"] = bytes.Replace(src["workflows/store.json"], []byte(`"status": "published",`), []byte(`"status": "published",
  "namespace": "`+ns+`",`), 1)
	src["clusters/moving.json"] = []byte(`{"name": "` + cluster + `", "default": true}`)
	e.commit("Add the store workflow", src)
	old, err := e.deploy()
	if err != nil {
		t.Fatal(err)
	}
	e.bootstrap(cluster)
	root := compiler.ClusterKustomizationName(cluster)
	e.waitApplied(old, root, "store")
	before := recordIdentities(t, s, ns)

	// The new bootstrap beside the old, which is then let go of without
	// collecting its garbage.
	opts.SourceRefNamespace, opts.MoveFrom = compiler.DefaultFluxNamespace, fluxSystem
	moving := e.with(opts)
	moving.bootstrap(cluster, func(b *compiler.BootstrapOptions) { b.MoveFrom = fluxSystem })
	oldRoot := e.dyn.Resource(kustomizations).Namespace(fluxSystem)
	if _, err := oldRoot.Patch(ctx, root, types.MergePatchType, []byte(`{"spec": {"deletionPolicy": "Orphan"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := oldRoot.Delete(ctx, root, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitGone("the old cluster Kustomization", func() error {
		_, err := oldRoot.Get(ctx, root, metav1.GetOptions{})
		return err
	})

	released, err := moving.deploy()
	if err != nil {
		t.Fatal(err)
	}
	moving.waitApplied(released, root, "store")
	k, err := oldRoot.Get(ctx, "store", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if suspend, _, _ := unstructured.NestedBool(k.Object, "spec", "suspend"); !suspend {
		t.Errorf("the old Kustomization store is not suspended")
	}
	if policy, _, _ := unstructured.NestedString(k.Object, "spec", "deletionPolicy"); policy != "Orphan" {
		t.Errorf("the old Kustomization store has deletionPolicy %q, want Orphan", policy)
	}

	opts.MoveFrom = ""
	moved := e.with(opts)
	final, err := moved.deploy()
	if err != nil {
		t.Fatal(err)
	}
	moved.waitApplied(final, root, "store")
	e.waitGone("the old Kustomization store", func() error {
		_, err := oldRoot.Get(ctx, "store", metav1.GetOptions{})
		return err
	})
	after := recordIdentities(t, s, ns)
	if diff := identityDiff(before, after); diff != "" {
		t.Errorf("the move re-created or restarted:\n%s", diff)
	}
	dep, err := s.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dep.Labels["kustomize.toolkit.fluxcd.io/namespace"]; got != compiler.DefaultFluxNamespace {
		t.Errorf("deployment api is owned by a Kustomization in %q, want %q", got, compiler.DefaultFluxNamespace)
	}
}

// identities are the UIDs of the Namespace, Deployments, StatefulSets,
// claims and pods of a namespace, by kind/name, and each pod's restarts.
type identities map[string]string

// recordIdentities waits until ns has its two pods, then records the
// identities of ns.
func recordIdentities(t *testing.T, s *Stack, ns string) identities {
	t.Helper()
	ctx := t.Context()
	id := identities{}
	if err := s.Poll(ctx, fluxWait, func() (bool, error) {
		pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		clear(id)
		for _, p := range pods.Items {
			restarts := int32(0)
			for _, c := range p.Status.ContainerStatuses {
				restarts += c.RestartCount
			}
			id["Pod/"+p.Name] = fmt.Sprintf("%s restarts=%d", p.UID, restarts)
		}
		return len(pods.Items) == 2, nil
	}); err != nil {
		t.Fatalf("the pods of %s: %v (%v)", ns, err, id)
	}
	record := func(kind, name string, o metav1.Object, err error) {
		if err != nil {
			t.Fatalf("%s %s: %v", kind, name, err)
		}
		id[kind+"/"+name] = string(o.GetUID())
	}
	n, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	record("Namespace", ns, n, err)
	dep, err := s.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	record("Deployment", "api", dep, err)
	sts, err := s.Client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	record("StatefulSet", "db", sts, err)
	for _, claim := range []string{"uploads", "pgdata-db-0"} {
		pvc, err := s.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		record("PersistentVolumeClaim", claim, pvc, err)
	}
	return id
}

// identityDiff lists what differs between before and after, one line each.
func identityDiff(before, after identities) string {
	var b strings.Builder
	for key, v := range before {
		if after[key] != v {
			fmt.Fprintf(&b, "%s: %s, then %q\n", key, v, after[key])
		}
	}
	for key, v := range after {
		if _, ok := before[key]; !ok {
			fmt.Fprintf(&b, "%s: new, %s\n", key, v)
		}
	}
	return b.String()
}
