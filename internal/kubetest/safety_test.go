package kubetest

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/workflow"
)

// statefulSource is the workflows repository of the stateful tests.
const statefulSource = "testdata/stateful"

// upgradeBefore is the deploy tree that the compiler rendered from
// statefulSource before Namespaces moved to the cluster level (commit
// 0294661, with --flux-namespace safety-flux): the Namespace sits in the
// workflow's overlay, in its Kustomization's inventory.
const upgradeBefore = "testdata/upgrade/before"

// TestWorkflowChangesKeepWhatItDoesNotOwn deploys a stateful workflow with
// the old layout through Flux, moves it to the new layout, then to another
// namespace, then archives it. The Namespace, the Deployments and the
// StatefulSet keep their identity across the upgrade; moving and archiving
// delete the workflow's Deployments and Services but keep the namespaces,
// the claims (a PVC node's and the StatefulSet's) and a Secret an operator
// made by hand.
func TestWorkflowChangesKeepWhatItDoesNotOwn(t *testing.T) {
	s := needStack(t)
	t.Parallel()
	ctx := t.Context()
	e := newFluxEnv(t, s, "stateful", "slipway")
	persistentVolumes(t, s, "manual", 4)
	src := gittest.CopyDir(t, statefulSource, e.work, "")
	e.commit("Add the store workflow", src)

	// The deploy branch as the compiler wrote it before.
	gittest.Git(t, e.work, "checkout", "-q", "--orphan", "deploy")
	gittest.Git(t, e.work, "rm", "-rfq", ".")
	before := gittest.Commit(t, e.work, "Deploy with the Namespace in the workflow's overlay", gittest.CopyDir(t, upgradeBefore, e.work, ""))
	gittest.Git(t, e.work, "push", "-q", e.bare(), "deploy")
	gittest.Git(t, e.work, "checkout", "-q", "main")
	e.bootstrap(workflow.DefaultCluster)
	root := compiler.ClusterKustomizationName(workflow.DefaultCluster)
	e.waitApplied(before, root, "store")

	uids := map[string]types.UID{}
	record := func(kind, name string, o metav1.Object, err error) {
		if err != nil {
			t.Fatalf("%s %s: %v", kind, name, err)
		}
		uids[kind+"/"+name] = o.GetUID()
	}
	ns, err := s.Client.CoreV1().Namespaces().Get(ctx, "store", metav1.GetOptions{})
	record("Namespace", "store", ns, err)
	dep, err := s.Client.AppsV1().Deployments("store").Get(ctx, "api", metav1.GetOptions{})
	record("Deployment", "api", dep, err)
	sts, err := s.Client.AppsV1().StatefulSets("store").Get(ctx, "db", metav1.GetOptions{})
	record("StatefulSet", "db", sts, err)
	operatorSecret(t, s, "store")

	t.Run("upgrade", func(t *testing.T) {
		e := e.in(t)
		upgraded, err := e.deploy()
		if err != nil {
			t.Fatal(err)
		}
		e.waitApplied(upgraded, root, "store")
		ns, err := s.Client.CoreV1().Namespaces().Get(ctx, "store", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the upgrade deleted the namespace: %v", err)
		}
		dep, err := s.Client.AppsV1().Deployments("store").Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sts, err := s.Client.AppsV1().StatefulSets("store").Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for key, uid := range map[string]types.UID{"Namespace/store": ns.UID, "Deployment/api": dep.UID, "StatefulSet/db": sts.UID} {
			if uids[key] != uid {
				t.Errorf("%s was re-created across the upgrade: UID %s, then %s", key, uids[key], uid)
			}
		}
		if got := ns.Annotations[compiler.AnnotationFluxPrune]; got != compiler.PruneDisabled {
			t.Errorf("namespace store: %s = %q, want %q", compiler.AnnotationFluxPrune, got, compiler.PruneDisabled)
		}
		if got := ns.Labels["kustomize.toolkit.fluxcd.io/name"]; got != root {
			t.Errorf("namespace store is owned by Kustomization %q, want the cluster's %q", got, root)
		}
	})

	// moveStore deploys the store workflow in namespace store-moved with
	// status and returns the deploy commit.
	moveStore := func(t *testing.T, message, status string) string {
		t.Helper()
		e := e.in(t)
		e.commit(message, map[string][]byte{
			"workflows/store.json": bytes.Replace(src["workflows/store.json"], []byte(`"status": "published",`), []byte(`"status": "`+status+`",
  "namespace": "store-moved",`), 1),
		})
		commit, err := e.deploy()
		if err != nil {
			t.Fatal(err)
		}
		return commit
	}

	t.Run("namespace change", func(t *testing.T) {
		e := e.in(t)
		moved := moveStore(t, "Move the store workflow to another namespace", "published")
		e.waitApplied(moved, root, "store")
		e.waitGone("deployment store/api", func() error {
			_, err := s.Client.AppsV1().Deployments("store").Get(ctx, "api", metav1.GetOptions{})
			return err
		})
		keptAndGone(t, s, "store")
		if _, err := s.Client.AppsV1().Deployments("store-moved").Get(ctx, "api", metav1.GetOptions{}); err != nil {
			t.Errorf("the workflow did not move: %v", err)
		}
	})

	t.Run("archive", func(t *testing.T) {
		e := e.in(t)
		operatorSecret(t, s, "store-moved")
		archived := moveStore(t, "Archive the store workflow", "archived")
		e.waitApplied(archived, root)
		e.waitGone("Kustomization store", func() error {
			_, err := e.dyn.Resource(kustomizations).Namespace(fluxNamespace).Get(ctx, "store", metav1.GetOptions{})
			return err
		})
		e.waitGone("deployment store-moved/api", func() error {
			_, err := s.Client.AppsV1().Deployments("store-moved").Get(ctx, "api", metav1.GetOptions{})
			return err
		})
		keptAndGone(t, s, "store-moved")
	})
}

// operatorSecret makes a Secret by hand, as docs/secrets.md tells
// operators to.
func operatorSecret(t *testing.T, s *Stack, ns string) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "made-by-hand"}, StringData: map[string]string{"token": "not-in-git"}}
	if _, err := s.Client.CoreV1().Secrets(ns).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// keptAndGone checks that the workflow's Deployments, StatefulSets and
// Services have left ns while the namespace, its claims and the hand-made
// Secret stay.
func keptAndGone(t *testing.T, s *Stack, ns string) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s: %v", ns, err)
	}
	if _, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "made-by-hand", metav1.GetOptions{}); err != nil {
		t.Errorf("the operator's Secret in %s: %v", ns, err)
	}
	for _, claim := range []string{"uploads", "pgdata-db-0"} {
		if _, err := s.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{}); err != nil {
			t.Errorf("claim %s/%s: %v", ns, claim, err)
		}
	}
	deps, err := s.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(deps.Items) != 0 {
		t.Errorf("deployments left in %s: %d (%v)", ns, len(deps.Items), err)
	}
	svcs, err := s.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(svcs.Items) != 0 {
		t.Errorf("services left in %s: %d (%v)", ns, len(svcs.Items), err)
	}
}

// TestRestrictedPodSecurity deploys, through Flux, a workflow whose nodes
// set a conforming securityContext to a cluster that enforces Pod Security
// "restricted" on the namespaces it renders: it becomes Ready, the pods
// that wait for a dependency in an init container included, while a pod
// without such settings is refused.
func TestRestrictedPodSecurity(t *testing.T) {
	s := needStack(t)
	t.Parallel()
	ctx := t.Context()
	e := newFluxEnv(t, s, "secure", "secure")
	deployed := e.deployDir("Add a hardened workflow on a restricted cluster", "testdata/restricted")
	e.bootstrap("secure")
	e.waitApplied(deployed, compiler.ClusterKustomizationName("secure"), "hardened")

	ns, err := s.Client.CoreV1().Namespaces().Get(ctx, "hardened", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels[compiler.LabelPodSecurityEnforce]; got != "restricted" {
		t.Errorf("namespace hardened: %s = %q, want restricted", compiler.LabelPodSecurityEnforce, got)
	}
	pods, err := s.Client.CoreV1().Pods("hardened").List(ctx, metav1.ListOptions{LabelSelector: workflow.LabelName + "=web"})
	if err != nil || len(pods.Items) == 0 || len(pods.Items[0].Spec.InitContainers) != 1 {
		t.Errorf("web pods should wait for the cache in an init container: %v", err)
	}
	plain := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "plain", Image: "nginx:1.27"}}},
	}
	_, err = s.Client.CoreV1().Pods("hardened").Create(ctx, plain, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a pod without a securityContext was not refused: %v", err)
	}
}

// TestFixtureRepositoryThroughFlux deploys fixtures/repo through Flux and
// waits until every published workflow's Kustomization is Ready: its Jobs
// complete, its claims bind, its Certificate (list and object fields) is
// accepted.
func TestFixtureRepositoryThroughFlux(t *testing.T) {
	s := needStack(t)
	t.Parallel()
	ctx := t.Context()
	e := newFluxEnv(t, s, "fixtures", "fixtures")
	persistentVolumes(t, s, "", 2)
	persistentVolumes(t, s, "standard", 2)
	persistentVolumes(t, s, "fast", 1)
	deployed := e.deployDir("Add the fixture workflows", "../../fixtures/repo")
	for _, cluster := range []string{"prod", "staging"} {
		e.bootstrap(cluster)
	}
	e.waitApplied(deployed, compiler.ClusterKustomizationName("prod"), compiler.ClusterKustomizationName("staging"), "shop", "database", "batch")
	job, err := s.Client.BatchV1().Jobs("batch-jobs").Get(ctx, "migrate", metav1.GetOptions{})
	if err != nil || !jobComplete(job) {
		t.Errorf("job batch-jobs/migrate is not Complete: %v", err)
	}
}

// TestCertificateFieldTypes dry-runs the fixture's Certificate, whose
// plugin fields are a list (dnsNames) and an object (issuerRef), against
// the apiserver with the typed CRD: it is accepted, and the same object
// with dnsNames as a string, as plugin fields rendered before, is refused.
func TestCertificateFieldTypes(t *testing.T) {
	s := needStack(t)
	t.Parallel()
	ctx := t.Context()
	res := buildFixtures(t)
	cert := res.Tree["workflows/batch/base/certificate-batch-tls.yaml"]
	if cert == nil {
		t.Fatal("the fixture renders no Certificate")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "certificates"}}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withNS := bytes.Replace(cert, []byte("  name: batch-tls\n"), []byte("  name: batch-tls\n  namespace: certificates\n"), 1)
	if err := s.DryRun(ctx, withNS); err != nil {
		t.Errorf("the Certificate was refused: %v", err)
	}
	asString := bytes.Replace(withNS, []byte("  dnsNames:\n  - batch.example.com\n  - jobs.batch.example.com\n"), []byte("  dnsNames: batch.example.com\n"), 1)
	if bytes.Equal(asString, withNS) {
		t.Fatal("the Certificate has no dnsNames list")
	}
	if err := s.DryRun(ctx, asString); err == nil {
		t.Error("a Certificate with dnsNames as a string was accepted; the CRD does not check types")
	}
}
