// Package adopt_test shows on the real stack that Flux takes over the
// objects KubeOrch made when the cluster adopts them: the objects
// KubeOrch's templates render for two workflows are created as KubeOrch
// creates them (field manager kubeorch-core, the environment value it
// supplies at run time, a Job that ran, a NetworkPolicy whose rule is
// empty); the operator supplies the workflow's environment Secret and
// hands KubeOrch's fields to Flux with compiler handover, as
// docs/kubeorch.md says; then the
// workflows imported from KubeOrch's documents are applied through Flux.
// Every object keeps its UID, the Job does not run again, the pods are
// replaced once, by a rolling update, and read the value from the Secret.
package adopt_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/kubeorch"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

// documents are KubeOrch's API documents of the two workflows.
var documents = []string{
	"../../fixtures/kubeorch-api/shop-front.json",
	"../../fixtures/kubeorch-api/shop-front-versions.json",
	"../../fixtures/kubeorch/adopt/orders.json",
}

// kubeorchObjects are the objects KubeOrch's templates render for them.
const kubeorchObjects = "../../fixtures/kubeorch/adopt/kubeorch-objects.yaml"

// apiKey is the value KubeOrch supplied at run time for Orders' API_KEY.
const apiKey = "not-a-real-key"

// adoptingCluster is the repository's one cluster, which adopts
// KubeOrch's objects.
const adoptingCluster = `{"name": "default", "default": true, "adopt": "kubeorch"}
`

// importInto imports the fixture documents into a new bare repository,
// with the adopting cluster in the first commit, and deploys it. It
// returns the import's report.
func importInto(t *testing.T, bare string) *kubeorch.Report {
	t.Helper()
	docs := &kubeorch.Documents{}
	for _, p := range documents {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := kubeorch.Parse(p, b)
		if err != nil {
			t.Fatal(err)
		}
		docs.Add(d)
	}
	res, err := kubeorch.Import(docs, kubeorch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gittest.InitBare(t, bare)
	repo, err := gitrepo.Open(t.Context(), bare, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	author := gitrepo.Signature{Name: "Importer", Email: "importer@example.com"}
	var changes []gitrepo.Change
	for i, c := range res.History() {
		files := map[string][]byte{workflow.WorkflowFile(c.Name): c.JSON}
		if i == 0 {
			files[workflow.ClusterFile("default")] = []byte(adoptingCluster)
		}
		changes = append(changes, gitrepo.Change{Files: files, Author: author, When: c.Time, Message: c.Message})
	}
	if _, err := repo.Append(t.Context(), "main", changes); err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployer.New(repo, repo, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: author})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deploy(t.Context()); err != nil {
		t.Fatal(err)
	}
	return res.Report
}

// created is an object KubeOrch made.
type created struct {
	resource schema.GroupVersionResource
	kind     string
	name     string
	uid      types.UID
}

// createAsKubeOrch creates the objects of the YAML file path in default,
// as KubeOrch does: a Create as field manager kubeorch-core.
func createAsKubeOrch(t *testing.T, dyn dynamic.Interface, path string) []created {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubetest.Objects(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []created
	for _, o := range objs {
		gvr, _ := meta.UnsafeGuessKindToResource(o.GroupVersionKind())
		got, err := dyn.Resource(gvr).Namespace("default").Create(t.Context(), o, metav1.CreateOptions{FieldManager: kubeorch.FieldManager})
		if err != nil {
			t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		out = append(out, created{resource: gvr, kind: o.GetKind(), name: o.GetName(), uid: got.GetUID()})
	}
	return out
}

// kubeorchStack starts a stack with Flux on which KubeOrch ran
// (kubeorchRan). It returns the stack, its git root, a client of it and
// what KubeOrch made.
func kubeorchStack(t *testing.T) (s *kubetest.Stack, gitRoot string, dyn dynamic.Interface, made []created) {
	t.Helper()
	s, gitRoot = kubetest.ForTest(t, binDir, true)
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return s, gitRoot, dyn, kubeorchRan(t, s, dyn)
}

// kubeorchRan creates KubeOrch's objects as KubeOrch does, waits until
// its workloads rolled out and its Job ran, and supplies the workflow's
// environment Secret as an operator does, one key per workload and
// variable (docs/secrets.md).
func kubeorchRan(t *testing.T, s *kubetest.Stack, dyn dynamic.Interface) []created {
	t.Helper()
	made := createAsKubeOrch(t, dyn, kubeorchObjects)
	waitDeployment(t, s, "web", "KubeOrch's web rolled out", func(d *appsv1.Deployment) bool { return true })
	waitDeployment(t, s, "orders", "KubeOrch's orders rolled out", func(d *appsv1.Deployment) bool { return true })
	waitJob(t, s, "orders-migrate")
	env := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: workflow.EnvSecretName("orders"), Namespace: "default"},
		StringData: map[string]string{workflow.EnvSecretKey("orders", "API_KEY"): apiKey}}
	if _, err := s.Client.CoreV1().Secrets("default").Create(t.Context(), env, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return made
}

// buildCompiler builds cmd/compiler, for the test to run as an operator
// does.
func buildCompiler(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "compiler")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/compiler")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/compiler: %v\n%s", err, out)
	}
	return bin
}

// handOver runs compiler handover in the namespace default with the
// stack's kubeconfig and args added, and returns what it printed.
func handOver(t *testing.T, s *kubetest.Stack, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"handover", "--kubeconfig", s.Kubeconfig, "--namespace", "default"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("compiler handover %v: %v\n%s%s", args, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// handedOver is what compiler handover prints for KubeOrch's
// Deployments in default.
const handedOver = `default Deployment/orders: handed kubeorch-core's fields to kustomize-controller
default Deployment/web: handed kubeorch-core's fields to kustomize-controller
`

// handOverToFlux hands KubeOrch's fields to Flux as docs/kubeorch.md
// says, with compiler handover in the namespace default: it names each of
// KubeOrch's workloads, and a second run changes nothing and says so.
func handOverToFlux(t *testing.T, s *kubetest.Stack, bin string) {
	t.Helper()
	if out, _ := handOver(t, s, bin); out != handedOver {
		t.Errorf("compiler handover printed\n%s\nwant\n%s", out, handedOver)
	}
	out, errOut := handOver(t, s, bin)
	if out != "" || errOut != "nothing to hand over in default: kubeorch-core owns no fields of KubeOrch's workloads there\n" {
		t.Errorf("a second compiler handover printed\n%s%s", out, errOut)
	}
}

// ownsFields says whether manager owns fields of the Deployment name
// itself (not of a subresource).
func ownsFields(t *testing.T, s *kubetest.Stack, name, manager string) bool {
	t.Helper()
	d, err := s.Client.AppsV1().Deployments("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(d.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == manager && m.Subresource == "" })
}

// connectFlux imports the workflows into a repository of the stack's git
// server and connects Flux to it as an operator does, with compiler
// bootstrap's objects. It returns the import's report.
func connectFlux(t *testing.T, s *kubetest.Stack, gitRoot string, opts compiler.Options) *kubeorch.Report {
	t.Helper()
	report := importInto(t, filepath.Join(gitRoot, "shop.git"))
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: "default", URL: s.GitURL("shop.git"), Branch: "deploy", Interval: time.Minute}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(t.Context(), bootstrap); err != nil {
		t.Fatal(err)
	}
	return report
}

func TestAdoptKubeOrch(t *testing.T) {
	s, gitRoot, dyn, made := kubeorchStack(t)
	ctx := t.Context()
	before, err := s.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ranBefore, err := s.Client.BatchV1().Jobs("default").Get(ctx, "orders-migrate", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCompiler(t)
	t.Run("a dry run of the hand-over writes nothing", func(t *testing.T) {
		out, errOut := handOver(t, s, bin, "--dry-run")
		if want := strings.ReplaceAll(handedOver, "handed", "would hand"); out != want || errOut != "dry run: would hand over 2 objects in default; nothing written\n" {
			t.Errorf("printed\n%s%s\nwant\n%s", out, errOut, want)
		}
		for _, name := range []string{"web", "orders"} {
			if !ownsFields(t, s, name, kubeorch.FieldManager) || ownsFields(t, s, name, kubeorch.FluxManager) {
				t.Errorf("%s: the dry run handed KubeOrch's fields over", name)
			}
		}
	})
	handOverToFlux(t, s, bin)
	opts := compiler.DefaultOptions()
	report := connectFlux(t, s, gitRoot, opts)
	waitReady(t, s, dyn, opts.SourceRefNamespace, "shop-front", "")
	waitReady(t, s, dyn, opts.SourceRefNamespace, "orders", "")

	after := waitDeployment(t, s, "web", "Slipway's web rolled out", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Labels[workflow.LabelPartOf] == "shop-front"
	})
	orders := waitDeployment(t, s, "orders", "Slipway's orders rolled out", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Labels[workflow.LabelPartOf] == "orders"
	})
	t.Run("every object is the one KubeOrch made", func(t *testing.T) { checkSame(t, dyn, made) })
	t.Run("the Deployment is updated in place and keeps KubeOrch's selector", func(t *testing.T) {
		if got := after.Spec.Selector.MatchLabels; len(got) != 1 || got["app"] != "web" {
			t.Errorf("selector %v, want KubeOrch's {app: web}", got)
		}
		if after.Generation <= before.Generation {
			t.Errorf("generation %d, was %d: the pod template did not change", after.Generation, before.Generation)
		}
		if l := after.Spec.Template.Labels; l["app"] != "web" || l[workflow.LabelName] != "web" || l[workflow.LabelPartOf] != "shop-front" {
			t.Errorf("pod labels %v: want app and Slipway's labels", l)
		}
		if after.Labels[workflow.LabelManagedBy] != workflow.ManagedBy {
			t.Errorf("labels %v: not managed by Slipway", after.Labels)
		}
		if after.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("strategy %s", after.Spec.Strategy.Type)
		}
	})
	t.Run("the environment value is read from the Secret and no field is KubeOrch's", func(t *testing.T) {
		checkTakenOver(t, orders, true)
		checkTakenOver(t, after, false)
	})
	t.Run("the pods are replaced once", func(t *testing.T) {
		for _, name := range []string{"web", "orders"} {
			rs, err := s.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs.Items) != 2 {
				t.Errorf("%s: %d ReplicaSets, want KubeOrch's and Slipway's", name, len(rs.Items))
			}
			pods, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			if err != nil {
				t.Fatal(err)
			}
			running := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					continue
				}
				running++
				if p.Labels[workflow.LabelName] != name {
					t.Errorf("pod %s has KubeOrch's labels %v", p.Name, p.Labels)
				}
			}
			if running != 2 {
				t.Errorf("%s: %d pods, want 2", name, running)
			}
		}
		if got := orders.Annotations["deployment.kubernetes.io/revision"]; got != "2" {
			t.Errorf("orders is at revision %s, want 2", got)
		}
	})
	t.Run("the Job that ran does not run again", func(t *testing.T) {
		job, err := s.Client.BatchV1().Jobs("default").Get(ctx, "orders-migrate", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if job.Status.Succeeded != 1 || job.Status.StartTime == nil || !job.Status.StartTime.Equal(ranBefore.Status.StartTime) {
			t.Errorf("started at %v, %d succeeded; KubeOrch's run started at %v", job.Status.StartTime, job.Status.Succeeded, ranBefore.Status.StartTime)
		}
		if _, ok := job.Labels[workflow.LabelPartOf]; ok {
			t.Errorf("labels %v: Flux changed the Job", job.Labels)
		}
	})
	t.Run("the Service selects by app", func(t *testing.T) {
		svc, err := s.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(svc.Spec.Selector) != 1 || svc.Spec.Selector["app"] != "web" {
			t.Errorf("selector %v", svc.Spec.Selector)
		}
	})
	t.Run("the NetworkPolicy enforces the drawn rule", func(t *testing.T) {
		np, err := s.Client.NetworkingV1().NetworkPolicies("default").Get(ctx, "orders", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if in := np.Spec.Ingress; len(in) != 1 || len(in[0].From) != 1 || in[0].From[0].PodSelector == nil ||
			in[0].From[0].PodSelector.MatchLabels["app"] != "web" || len(in[0].Ports) != 1 {
			t.Errorf("ingress %+v, want from app=web on 8080", in)
		}
	})
	t.Run("the import report lists the changes", func(t *testing.T) {
		var got []string
		for _, c := range report.Adoption {
			got = append(got, c.Workflow+" "+c.Object)
		}
		for _, want := range []string{"shop-front Deployment/web", "orders Deployment/orders", "orders Job/orders-migrate", "orders NetworkPolicy/orders"} {
			if !slices.Contains(got, want) {
				t.Errorf("changes on adoption %v lack %s", got, want)
			}
		}
	})
}

// checkSame checks that the objects KubeOrch made are still there, the
// same objects.
func checkSame(t *testing.T, dyn dynamic.Interface, made []created) {
	t.Helper()
	for _, o := range made {
		got, err := dyn.Resource(o.resource).Namespace("default").Get(t.Context(), o.name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s %s: %v", o.kind, o.name, err)
			continue
		}
		if got.GetUID() != o.uid {
			t.Errorf("%s %s: UID %s, KubeOrch's was %s: Flux replaced it", o.kind, o.name, got.GetUID(), o.uid)
		}
	}
}

// checkTakenOver checks that Flux owns every field KubeOrch set on d:
// none is left to KubeOrch's field manager, its version label, which the
// workflow does not draw, is gone and, with env, the value KubeOrch set
// for API_KEY is read from the workflow's Secret.
func checkTakenOver(t *testing.T, d *appsv1.Deployment, env bool) {
	t.Helper()
	for _, m := range d.ManagedFields {
		if m.Manager == kubeorch.FieldManager {
			t.Errorf("%s: %s still owns fields", d.Name, m.Manager)
		}
	}
	if _, ok := d.Spec.Template.Labels["version"]; ok {
		t.Errorf("%s: pod labels %v keep KubeOrch's version", d.Name, d.Spec.Template.Labels)
	}
	if !env {
		return
	}
	want := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: workflow.EnvSecretName("orders")}, Key: workflow.EnvSecretKey("orders", "API_KEY")}
	if got := d.Spec.Template.Spec.Containers[0].Env; len(got) != 1 || got[0].Name != "API_KEY" || got[0].Value != "" || got[0].ValueFrom == nil ||
		got[0].ValueFrom.SecretKeyRef == nil || *got[0].ValueFrom.SecretKeyRef != want {
		t.Errorf("%s: env %+v, want API_KEY from %+v only", d.Name, got, want)
	}
}

// waitDeployment waits until the Deployment name has rolled out every
// replica of its newest template and ok holds, and returns it.
func waitDeployment(t *testing.T, s *kubetest.Stack, name, what string, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	err := s.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		var err error
		if d, err = s.Client.AppsV1().Deployments("default").Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		return st.ObservedGeneration == d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want && ok(d), nil
	})
	if err != nil {
		t.Fatalf("%s: %v; last status %+v", what, err, d.Status)
	}
	return d
}

// waitJob waits until the Job name has succeeded, and returns it.
func waitJob(t *testing.T, s *kubetest.Stack, name string) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	err := s.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		var err error
		if j, err = s.Client.BatchV1().Jobs("default").Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		return j.Status.Succeeded > 0, nil
	})
	if err != nil {
		t.Fatalf("Job %s: %v; last status %+v", name, err, j.Status)
	}
	return j
}

// waitReady waits until Flux's Kustomization name in namespace is Ready
// and, unless handled is empty, has handled the reconciliation requested
// as handled.
func waitReady(t *testing.T, s *kubetest.Stack, dyn dynamic.Interface, namespace, name, handled string) {
	t.Helper()
	waitKustomization(t, s, dyn, namespace, name, "Ready", func(k *unstructured.Unstructured, ready map[string]any) bool {
		got, _, _ := unstructured.NestedString(k.Object, "status", "lastHandledReconcileAt")
		return ready["status"] == "True" && got == handled
	})
}

// waitKustomization waits until ok holds for Flux's Kustomization name in
// namespace and its Ready condition, and returns that condition's message.
func waitKustomization(t *testing.T, s *kubetest.Stack, dyn dynamic.Interface, namespace, name, what string, ok func(k *unstructured.Unstructured, ready map[string]any) bool) string {
	t.Helper()
	var last *unstructured.Unstructured
	var msg string
	err := s.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		k, err := dyn.Resource(watch.Kustomizations).Namespace(namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = k
		conds, _, _ := unstructured.NestedSlice(k.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Ready" {
				msg, _ = m["message"].(string)
				return ok(k, m), nil
			}
		}
		return false, nil
	})
	if err != nil {
		var conds any
		if last != nil {
			conds, _, _ = unstructured.NestedSlice(last.Object, "status", "conditions")
		}
		t.Fatalf("Kustomization %s %s: %v; conditions %v", name, what, err, conds)
	}
	return msg
}

// TestAdoptAfterFailedApply connects Flux before the hand-over: Flux's
// dry-run refuses the Deployment whose environment value KubeOrch owns,
// and applies nothing of that workflow; the hand-over then merges
// KubeOrch's fields into those Flux owns on the objects it applied
// meanwhile, and Flux's next reconciliation adopts everything.
func TestAdoptAfterFailedApply(t *testing.T) {
	s, gitRoot, dyn, made := kubeorchStack(t)
	ctx := t.Context()
	opts := compiler.DefaultOptions()
	connectFlux(t, s, gitRoot, opts)
	ns := opts.SourceRefNamespace
	waitReady(t, s, dyn, ns, "shop-front", "")
	msg := waitKustomization(t, s, dyn, ns, "orders", "failed", func(_ *unstructured.Unstructured, ready map[string]any) bool {
		return ready["status"] == "False" && ready["reason"] == "ReconciliationFailed"
	})
	t.Run("Flux refuses an environment value KubeOrch owns", func(t *testing.T) {
		if !strings.Contains(msg, "Deployment/default/orders dry-run failed") || !strings.Contains(msg, "may not be specified when `value` is not empty") {
			t.Errorf("Ready message %q", msg)
		}
		d, err := s.Client.AppsV1().Deployments("default").Get(ctx, "orders", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Labels[workflow.LabelPartOf]; ok {
			t.Errorf("labels %v: Flux applied part of the workflow", d.Labels)
		}
	})

	handOverToFlux(t, s, buildCompiler(t))
	token := time.Now().UTC().Format(time.RFC3339Nano)
	for _, name := range []string{"shop-front", "orders"} {
		patch := fmt.Appendf(nil, `{"metadata": {"annotations": {%q: %q}}}`, hooks.RequestedAtAnnotation, token)
		if _, err := dyn.Resource(watch.Kustomizations).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, s, dyn, ns, "orders", token)
	waitReady(t, s, dyn, ns, "shop-front", token)
	orders := waitDeployment(t, s, "orders", "Slipway's orders rolled out", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Labels[workflow.LabelPartOf] == "orders"
	})
	web := waitDeployment(t, s, "web", "web without KubeOrch's fields", func(d *appsv1.Deployment) bool {
		_, ok := d.Spec.Template.Labels["version"]
		return !ok
	})
	t.Run("every object is the one KubeOrch made", func(t *testing.T) { checkSame(t, dyn, made) })
	t.Run("Flux owns what KubeOrch set", func(t *testing.T) {
		checkTakenOver(t, orders, true)
		checkTakenOver(t, web, false)
		applies := 0
		for _, m := range web.ManagedFields {
			if m.Manager == "kustomize-controller" && m.Operation == metav1.ManagedFieldsOperationApply {
				applies++
			}
		}
		if applies != 1 {
			t.Errorf("web: %d apply entries of kustomize-controller, want them merged into 1", applies)
		}
	})
}

// racingClient is a dynamic client before whose first patch of each
// object another writer changes that object, as an operator or a
// controller may between the hand-over's read and its write.
type racingClient struct {
	dynamic.Interface
	patches map[string]int
}

func (c racingClient) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return racingResource{c.Interface.Resource(gvr), c}
}

// racingResource is a resource of a racingClient.
type racingResource struct {
	dynamic.NamespaceableResourceInterface
	c racingClient
}

func (r racingResource) Namespace(ns string) dynamic.ResourceInterface {
	return racingObjects{r.NamespaceableResourceInterface.Namespace(ns), r.c}
}

// racingObjects are the objects of a racingResource in a namespace.
type racingObjects struct {
	dynamic.ResourceInterface
	c racingClient
}

// raced is the annotation the other writer sets.
const raced = "example.com/raced"

func (o racingObjects) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*unstructured.Unstructured, error) {
	o.c.patches[name]++
	if o.c.patches[name] == 1 {
		race := fmt.Appendf(nil, `{"metadata": {"annotations": {%q: "true"}}}`, raced)
		if _, err := o.ResourceInterface.Patch(ctx, name, types.MergePatchType, race, metav1.PatchOptions{FieldManager: "operator"}); err != nil {
			return nil, err
		}
	}
	return o.ResourceInterface.Patch(ctx, name, pt, data, opts, sub...)
}

// handOverAccount returns a client configuration of a ServiceAccount in
// default that may do what compiler handover says it needs, and nothing
// else: get, list and patch on kubeorch.HandOverResources.
func handOverAccount(t *testing.T, s *kubetest.Stack) *rest.Config {
	t.Helper()
	ctx := t.Context()
	const name = "slipway-handover"
	meta := metav1.ObjectMeta{Name: name, Namespace: "default"}
	role := &rbacv1.Role{ObjectMeta: meta}
	for _, r := range kubeorch.HandOverResources() {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: []string{"get", "list", "patch"}})
	}
	if _, err := s.Client.RbacV1().Roles("default").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: "default"}}}
	if _, err := s.Client.RbacV1().RoleBindings("default").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(s.Config)
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// TestHandOverRetriesOnConflict hands KubeOrch's fields over as an
// account that may do only what compiler handover says it needs, and
// changes each of KubeOrch's objects between the hand-over's read and its
// patch: the patch, made on the resourceVersion read, meets a conflict,
// and the hand-over reads the object again and hands its fields over
// without undoing the other writer's change.
func TestHandOverRetriesOnConflict(t *testing.T) {
	s, _ := kubetest.ForTest(t, binDir, false)
	admin, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	createAsKubeOrch(t, admin, kubeorchObjects)
	dyn, err := dynamic.NewForConfig(handOverAccount(t, s))
	if err != nil {
		t.Fatal(err)
	}
	c := racingClient{Interface: dyn, patches: map[string]int{}}
	var handed []string
	n, err := kubeorch.HandOver(t.Context(), c, kubeorch.HandOverOptions{Namespace: "default", Handed: func(o string) { handed = append(handed, o) }})
	if err != nil || n != 2 || !slices.Equal(handed, []string{"Deployment/orders", "Deployment/web"}) {
		t.Fatalf("handed over %d objects %v, error %v", n, handed, err)
	}
	for _, name := range []string{"web", "orders"} {
		if c.patches[name] < 2 {
			t.Errorf("%s: patched %d times, want once on the conflict and again after", name, c.patches[name])
		}
		d, err := s.Client.AppsV1().Deployments("default").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Annotations[raced] != "true" || !ownsFields(t, s, name, "operator") {
			t.Errorf("%s: the other writer's annotation is gone: %v", name, d.Annotations)
		}
		if ownsFields(t, s, name, kubeorch.FieldManager) || !ownsFields(t, s, name, kubeorch.FluxManager) {
			t.Errorf("%s: KubeOrch's fields are not Flux's: %+v", name, d.ManagedFields)
		}
	}
}
