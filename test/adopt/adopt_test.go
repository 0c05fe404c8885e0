// Package adopt_test shows on the real stack that Flux takes over the
// objects KubeOrch made when the cluster adopts them: KubeOrch's
// Deployment and Service, rendered as its templates render them, are
// applied first; then the workflow imported from KubeOrch's documents is
// applied through Flux. The Deployment keeps its UID and its selector,
// and its pods are replaced by a rolling update.
package adopt_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/kubeorch"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

// documents are the KubeOrch API documents of the workflow.
const documents = "../../fixtures/kubeorch-api"

// kubeorchObjects are the Deployment and Service KubeOrch's core templates
// render for the fixture's version 3: app and version labels, the
// managed-by label, a selector on app alone, a port named http.
const kubeorchObjects = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web, version: v1, managed-by: kubeorch}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, version: v1}
    spec:
      containers:
      - name: web
        image: nginx:1.27.3
        ports:
        - {containerPort: 80, protocol: TCP, name: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  labels: {app: web, managed-by: kubeorch}
spec:
  type: ClusterIP
  selector: {app: web}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 80}
`

// adoptingCluster is the repository's one cluster, which adopts
// KubeOrch's objects.
const adoptingCluster = `{"name": "default", "default": true, "adopt": "kubeorch"}
`

// importInto imports the fixture documents into a new bare repository,
// with the adopting cluster in the first commit, and deploys it.
func importInto(t *testing.T, bare string) *deployer.Result {
	t.Helper()
	docs := &kubeorch.Documents{}
	for _, n := range []string{"shop-front.json", "shop-front-versions.json"} {
		p := filepath.Join(documents, n)
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
	dr, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return dr
}

func TestAdoptKubeOrch(t *testing.T) {
	s, gitRoot := kubetest.ForTest(t, binDir, true)
	ctx := t.Context()

	if err := s.Apply(ctx, []byte(kubeorchObjects)); err != nil {
		t.Fatal(err)
	}
	before := waitDeployment(t, s, "KubeOrch's web rolled out", func(d *appsv1.Deployment) bool { return true })
	svcBefore, err := s.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	importInto(t, filepath.Join(gitRoot, "shop.git"))
	// Connected as an operator connects Flux: compiler bootstrap's objects.
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: "default", URL: s.GitURL("shop.git"), Branch: "deploy", Interval: time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, s, dyn, "shop-front")

	after := waitDeployment(t, s, "Slipway's web rolled out", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Labels[workflow.LabelPartOf] == "shop-front"
	})
	t.Run("the Deployment is the same object, updated in place", func(t *testing.T) {
		if after.UID != before.UID {
			t.Errorf("UID %s, KubeOrch's was %s: Flux replaced the Deployment", after.UID, before.UID)
		}
		if got := after.Spec.Selector.MatchLabels; len(got) != 1 || got["app"] != "web" {
			t.Errorf("selector %v, want KubeOrch's {app: web}", got)
		}
		if after.Generation <= before.Generation {
			t.Errorf("generation %d, was %d: the pod template did not change", after.Generation, before.Generation)
		}
		// KubeOrch's other labels (version) stay: another field manager
		// owns them, and server-side apply leaves what it does not own.
		if l := after.Spec.Template.Labels; l["app"] != "web" || l[workflow.LabelName] != "web" || l[workflow.LabelPartOf] != "shop-front" {
			t.Errorf("pod labels %v: want app and Slipway's labels", l)
		}
		if after.Labels[workflow.LabelManagedBy] != workflow.ManagedBy {
			t.Errorf("labels %v: not managed by Slipway", after.Labels)
		}
	})
	t.Run("its pods are the new template's, replaced by a rolling update", func(t *testing.T) {
		pods, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			running++
			if p.Labels[workflow.LabelPartOf] != "shop-front" {
				t.Errorf("pod %s has KubeOrch's labels %v", p.Name, p.Labels)
			}
		}
		if running != 2 {
			t.Errorf("%d pods, want 2", running)
		}
		if after.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("strategy %s", after.Spec.Strategy.Type)
		}
	})
	t.Run("the Service is the same object and selects by app", func(t *testing.T) {
		svc, err := s.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.UID != svcBefore.UID {
			t.Errorf("UID %s, KubeOrch's was %s", svc.UID, svcBefore.UID)
		}
		if len(svc.Spec.Selector) != 1 || svc.Spec.Selector["app"] != "web" {
			t.Errorf("selector %v", svc.Spec.Selector)
		}
	})
}

// waitDeployment waits until the Deployment web has rolled out every
// replica of its newest template and ok holds, and returns it.
func waitDeployment(t *testing.T, s *kubetest.Stack, what string, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	err := s.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		var err error
		if d, err = s.Client.AppsV1().Deployments("default").Get(t.Context(), "web", metav1.GetOptions{}); err != nil {
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

// waitReady waits until Flux's Kustomization name is Ready.
func waitReady(t *testing.T, s *kubetest.Stack, dyn dynamic.Interface, name string) {
	t.Helper()
	var last *unstructured.Unstructured
	err := s.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		k, err := dyn.Resource(watch.Kustomizations).Namespace("slipway").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = k
		conds, _, _ := unstructured.NestedSlice(k.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		var conds any
		if last != nil {
			conds, _, _ = unstructured.NestedSlice(last.Object, "status", "conditions")
		}
		t.Fatalf("Kustomization %s Ready: %v; conditions %v", name, err, conds)
	}
}
