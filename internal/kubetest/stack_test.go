package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/source"
)

// stack is shared by the package's tests; nil when it cannot run here.
var (
	stack     *Stack
	stackErr  error
	gitRoot   string
	startTime time.Duration
)

// BinDir is where make kube-tools puts the stack's binaries, relative to
// this package.
const binDir = "../../.tools/kube/bin"

func TestMain(m *testing.M) {
	bin, _ := filepath.Abs(binDir)
	if missing := MissingBinaries(bin); len(missing) > 0 {
		stackErr = fmt.Errorf("the kube stack's binaries %v are missing from %s: run make kube-tools", missing, bin)
	} else {
		gitRoot, _ = os.MkdirTemp("", "slipway-kube-git-")
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		stack, stackErr = Start(ctx, Options{BinDir: bin, GitRoot: gitRoot, Flux: true, CRDs: [][]byte{CertificateCRD}, Log: os.Stderr})
		cancel()
		startTime = time.Since(began)
	}
	code := m.Run()
	if stack != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "kube stack logs kept in %s\n", stack.Dir)
		}
		stack.Stop()
		if code == 0 {
			os.RemoveAll(stack.Dir)
		}
	}
	os.RemoveAll(gitRoot)
	os.Exit(code)
}

// needStack skips loudly without the stack, and fails in CI, which must
// run these tests.
func needStack(t *testing.T) *Stack {
	t.Helper()
	if stackErr != nil {
		msg := "SKIPPED LOUDLY: no kube stack: " + stackErr.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	return stack
}

// buildFixtures compiles the fixture repository.
func buildFixtures(t *testing.T) *compiler.Result {
	t.Helper()
	return buildRepo(t, "../../fixtures/repo")
}

// buildRepo compiles the workflows repository in dir.
func buildRepo(t *testing.T, dir string) *compiler.Result {
	t.Helper()
	src, err := source.ReadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Build(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestServerSideDryRun validates every object of the fixture repository's
// deploy tree with the real apiserver (dryRun=All), which checks what
// kustomize cannot: the objects' schemas.
func TestServerSideDryRun(t *testing.T) {
	s := needStack(t)
	res := buildFixtures(t)
	dirs, _ := filepath.Glob("../../fixtures/repo/workflows/*.json")
	// Slipway's Flux namespace exists before any deploy tree is applied:
	// compiler bootstrap makes it.
	flux := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: compiler.DefaultOptions().SourceRefNamespace}}
	if _, err := s.Client.CoreV1().Namespaces().Create(t.Context(), flux, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range res.Tree.Paths() {
		// Cluster directories first (Paths sorts them first): they hold
		// the Namespaces the overlays' objects need.
		if !strings.HasSuffix(p, "/kustomization.yaml") || strings.HasSuffix(p, "/base/kustomization.yaml") {
			continue
		}
		dir := filepath.Dir(p)
		y, err := res.Tree.Kustomize(dir)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := Objects(y)
		if err != nil {
			t.Fatal(err)
		}
		// Namespaces are created for real: the objects in them need them.
		for _, o := range objs {
			if o.GetKind() == "Namespace" {
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.GetName()}}
				if _, err := s.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
					t.Fatal(err)
				}
			}
		}
		if err := s.DryRun(t.Context(), y); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
		checked += len(objs)
	}
	t.Logf("%d objects of %d workflows validated by the apiserver", checked, len(dirs))
	if checked < res.Objects {
		t.Errorf("validated %d objects, fewer than the %d rendered", checked, res.Objects)
	}
}

var (
	gitRepositories = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizations  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
)

// TestFluxAppliesWorkflows compiles the end-to-end fixtures, deploys them
// to a branch served over HTTP, points Flux at it, and waits until every
// Flux Kustomization is Ready, every Deployment Available and every Job
// Complete.
func TestFluxAppliesWorkflows(t *testing.T) {
	s := needStack(t)
	t.Logf("stack started in %s", startTime.Round(time.Millisecond))
	ctx := t.Context()

	// The workflows repository, deployed into a bare repository Flux pulls.
	_, res := deploytest.Deploy(t, "../../fixtures/e2e", filepath.Join(gitRoot, "e2e.git"))

	// Flux's bootstrap: one GitRepository, one Kustomization per cluster.
	bootstrap := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: slipway}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: slipway, namespace: slipway}
spec:
  interval: 1m
  url: %s
  ref: {branch: deploy}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: cluster-default, namespace: slipway}
spec:
  interval: 1m
  path: ./clusters/default
  prune: true
  sourceRef: {kind: GitRepository, name: slipway}
`, s.GitURL("e2e.git"))
	began := time.Now()
	if err := s.Apply(ctx, []byte(bootstrap)); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"cluster-default": true, "web": true, "jobs": true}
	var last string
	err = s.Poll(ctx, 4*time.Minute, func() (bool, error) {
		list, err := dyn.Resource(kustomizations).Namespace("slipway").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := map[string]bool{}
		var states []string
		for _, k := range list.Items {
			st, msg := condition(&k, "Ready")
			ready[k.GetName()] = st == "True"
			states = append(states, k.GetName()+"="+st+" "+msg)
		}
		last = strings.Join(states, "; ")
		for n := range want {
			if !ready[n] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		gr, _ := dyn.Resource(gitRepositories).Namespace("slipway").Get(ctx, "slipway", metav1.GetOptions{})
		_, grMsg := condition(gr, "Ready")
		t.Fatalf("Flux Kustomizations not Ready: %v\nlast: %s\nGitRepository: %s", err, last, grMsg)
	}
	t.Logf("deploy commit %s applied and healthy %s after the bootstrap", res.DeployCommit[:12], time.Since(began).Round(time.Millisecond))

	for _, ns := range []string{"web", "jobs"} {
		deps, err := s.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, dep := range deps.Items {
			if !deploymentAvailable(&dep) {
				t.Errorf("deployment %s/%s is not Available: %+v", ns, dep.Name, dep.Status.Conditions)
			}
		}
		jobs, err := s.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs.Items {
			if !jobComplete(&j) {
				t.Errorf("job %s/%s is not Complete: %+v", ns, j.Name, j.Status.Conditions)
			}
		}
		if ns == "jobs" && len(jobs.Items) != 1 {
			t.Errorf("%d jobs in %s, want 1", len(jobs.Items), ns)
		}
		if ns == "web" && len(deps.Items) != 1 {
			t.Errorf("%d deployments in %s, want 1", len(deps.Items), ns)
		}
	}
	sts, err := s.Client.AppsV1().StatefulSets("web").Get(ctx, "cache", metav1.GetOptions{})
	if err != nil || sts.Status.ReadyReplicas != 1 {
		t.Errorf("statefulset web/cache: %v, ready %d", err, sts.Status.ReadyReplicas)
	}
	pods, err := s.Client.CoreV1().Pods("web").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=web"})
	if err != nil || len(pods.Items) == 0 || len(pods.Items[0].Spec.InitContainers) != 1 {
		t.Errorf("web pods should wait for the cache in an init container: %v", err)
	}
	if out, err := exec.CommandContext(ctx, filepath.Join(s.opts.BinDir, "kubectl"), "--kubeconfig", s.Kubeconfig, "get", "deployments,statefulsets,jobs", "-A").CombinedOutput(); err == nil {
		t.Logf("kubectl get deployments,statefulsets,jobs -A:\n%s", out)
	}
	var total int64
	var peaks []string
	for name, b := range s.PeakMemory() {
		total += b
		peaks = append(peaks, fmt.Sprintf("%s %d MB", name, b>>20))
	}
	sort.Strings(peaks)
	t.Logf("peak resident memory: %d MB in all (%s)", total>>20, strings.Join(peaks, ", "))
}

// condition returns the status and message of a condition of an object.
func condition(o *unstructured.Unstructured, typ string) (status, message string) {
	if o == nil {
		return "Unknown", "not found"
	}
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ = m["status"].(string)
			message, _ = m["message"].(string)
			return status, message
		}
	}
	return "Unknown", "no " + typ + " condition"
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobComplete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// TestKubectlKustomize runs kubectl kustomize, as a person would, over
// every overlay and cluster directory of the fixture repository's deploy
// tree written to disk.
func TestKubectlKustomize(t *testing.T) {
	needStack(t)
	res := buildFixtures(t)
	dir := t.TempDir()
	if err := res.Tree.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	overlays, _ := filepath.Glob(filepath.Join(dir, "workflows", "*", "clusters", "*"))
	clusters, _ := filepath.Glob(filepath.Join(dir, "clusters", "*"))
	if len(overlays) == 0 || len(clusters) == 0 {
		t.Fatalf("found %d overlays and %d cluster dirs", len(overlays), len(clusters))
	}
	for _, d := range append(overlays, clusters...) {
		out, err := exec.CommandContext(t.Context(), filepath.Join(stack.opts.BinDir, "kubectl"), "kustomize", d).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", d, err, out)
		}
	}
}
