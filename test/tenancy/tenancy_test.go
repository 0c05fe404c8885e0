// Package tenancy_test shows on the real stack, with kustomize-controller
// under Flux's multi-tenancy lockdown (--no-cross-namespace-refs=true
// --default-service-account=default), that a repository whose cluster
// files set flux.tenancy is applied with what compiler bootstrap prints,
// each workflow as its own account; that a workflow outside the cluster's
// allowedNamespaces never reaches the deploy branch; and that one whose
// account lacks a right fails in Flux with the reason, not silently.
package tenancy_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

// fluxWait bounds each wait for Flux.
const fluxWait = 4 * time.Minute

// lockdown are the flags of Flux's multi-tenancy lockdown.
var lockdown = []string{"--no-cross-namespace-refs=true", "--default-service-account=default"}

// allowed are the namespaces the test's cluster files allow.
var allowed = []string{"shop", "database", "batch-*"}

// serviceMonitorCRD defines a namespaced kind for which, unlike
// cert-manager's, no role is aggregated to admin: a workflow's account
// may not write it.
var serviceMonitorCRD = []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)

// certificatesToAdmin lets namespace admins manage Certificates, as
// cert-manager's installation does with aggregated ClusterRoles.
var certificatesToAdmin = []byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cert-manager-edit
  labels: {rbac.authorization.k8s.io/aggregate-to-admin: "true", rbac.authorization.k8s.io/aggregate-to-edit: "true"}
rules:
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, list, watch, create, update, patch, delete, deletecollection]
`)

// repo is the workflows repository and its deployer.
type repo struct {
	t    *testing.T
	work string
	bare string
	d    *deployer.Deployer
}

// commit commits files (nil deletes) to main and pushes it.
func (r *repo) commit(message string, files map[string][]byte) {
	r.t.Helper()
	gittest.Commit(r.t, r.work, message, files)
	gittest.Git(r.t, r.work, "push", "-q", r.bare, "main")
}

// deployHead is the deploy branch's head, empty before the first deploy.
func (r *repo) deployHead() string {
	out, err := gittest.GitE(r.t.Context(), r.bare, "rev-parse", "--verify", "-q", "refs/heads/deploy")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// tenancyClusters returns the fixture's cluster files with flux.tenancy
// and allowedNamespaces set.
func tenancyClusters(t *testing.T, files map[string][]byte) {
	t.Helper()
	for _, name := range []string{"prod", "staging"} {
		file := workflow.ClusterFile(name)
		var cl map[string]any
		if err := json.Unmarshal(files[file], &cl); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		cl["flux"] = map[string]any{"tenancy": true}
		cl["allowedNamespaces"] = allowed
		b, err := json.MarshalIndent(cl, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		files[file] = b
	}
}

func TestTenancyUnderLockdown(t *testing.T) {
	s, gitRoot := kubetest.ForTestWith(t, kubetest.Options{BinDir: binDir, Flux: true, KustomizeControllerArgs: lockdown,
		CRDs: [][]byte{kubetest.CertificateCRD, serviceMonitorCRD}})
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, certificatesToAdmin); err != nil {
		t.Fatal(err)
	}
	for class, n := range map[string]int{"": 2, "standard": 2, "fast": 1} {
		if err := s.PersistentVolumes(ctx, class, n); err != nil {
			t.Fatal(err)
		}
	}

	r := &repo{t: t, work: gittest.Init(t), bare: filepath.Join(gitRoot, "fixtures.git")}
	files := gittest.CopyDir(t, "../../fixtures/repo", r.work, "")
	tenancyClusters(t, files)
	gittest.InitBare(t, r.bare)
	r.commit("Add the fixture workflows, each cluster with tenancy", files)
	g, err := gitrepo.Open(ctx, r.bare, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if r.d, err = deployer.New(g, g, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}}); err != nil {
		t.Fatal(err)
	}
	res, err := r.d.Deploy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What compiler bootstrap --tenancy --receiver-secret "" prints for
	// each cluster: the stack runs no notification-controller.
	for _, cluster := range []string{"prod", "staging"} {
		y, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: cluster, URL: s.GitURL("fixtures.git"), Branch: "deploy", Interval: 10 * time.Second,
			Tenancy: true}, compiler.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, y); err != nil {
			t.Fatal(err)
		}
	}
	applied := func(t *testing.T, commit string, names ...string) {
		t.Helper()
		waitKustomizations(t, s, dyn, func(k *unstructured.Unstructured) (bool, string) {
			rev, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
			c := ready(k)
			return c.Status == "True" && strings.HasSuffix(rev, commit), fmt.Sprintf("Ready=%s %s (applied %s)", c.Status, c.Message, rev)
		}, names...)
	}
	t.Run("the fixture becomes Ready, each workflow as its own account", func(t *testing.T) {
		applied(t, res.DeployCommit, compiler.ClusterKustomizationName("prod"), compiler.ClusterKustomizationName("staging"), "shop", "database", "batch")
		for _, wf := range []string{"shop", "database", "batch"} {
			k, err := dyn.Resource(watch.Kustomizations).Namespace(compiler.DefaultFluxNamespace).Get(ctx, wf, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sa, _, _ := unstructured.NestedString(k.Object, "spec", "serviceAccountName"); sa != compiler.WorkflowServiceAccountName(wf) {
				t.Errorf("Kustomization %s applies as %q, want %q", wf, sa, compiler.WorkflowServiceAccountName(wf))
			}
		}
	})

	t.Run("a namespace outside allowedNamespaces is refused at compile time", func(t *testing.T) {
		head := r.deployHead()
		r.commit("Add a workflow in another team's namespace", map[string][]byte{"workflows/outsider.json": []byte(`{"name": "outsider", "status": "published", "namespace": "other-team",
  "nodes": [{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`)})
		_, err := r.d.Deploy(ctx)
		want := `workflows/outsider.json: /namespace: namespace "other-team" is not allowed on cluster "prod": it matches none of "shop", "database", "batch-*" in clusters/prod.json /allowedNamespaces`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("deploy: %v; want %q", err, want)
		}
		if got := r.deployHead(); got != head {
			t.Errorf("the deploy branch moved from %s to %s", head, got)
		}
		r.commit("Remove the outsider", map[string][]byte{"workflows/outsider.json": nil})
	})

	t.Run("an account without the right fails in Flux with the reason", func(t *testing.T) {
		r.commit("Add a workflow with a ServiceMonitor, which admin may not write", map[string][]byte{"workflows/monitor.json": []byte(`{"name": "monitor", "status": "published", "namespace": "batch-monitor",
  "nodes": [{"id": "sm", "type": "plugin", "position": {"x": 0, "y": 0}, "data": {"name": "web", "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
    "_pluginFields": [{"id": "jobLabel", "label": "Job label", "type": "text", "required": true}], "jobLabel": "web"}}], "edges": []}`)})
		res, err := r.d.Deploy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		applied(t, res.DeployCommit, compiler.ClusterKustomizationName("prod"), "shop", "database")
		waitKustomizations(t, s, dyn, func(k *unstructured.Unstructured) (bool, string) {
			c := ready(k)
			return c.Status == "False" && strings.Contains(c.Message, "forbidden") && strings.Contains(c.Message, "servicemonitors"), fmt.Sprintf("Ready=%s %s", c.Status, c.Message)
		}, "monitor")
		k, err := dyn.Resource(watch.Kustomizations).Namespace(compiler.DefaultFluxNamespace).Get(ctx, "monitor", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Kustomization monitor: %s", ready(k).Message)
		if _, err := dyn.Resource(serviceMonitors).Namespace("batch-monitor").Get(ctx, "web", metav1.GetOptions{}); err == nil {
			t.Error("the ServiceMonitor exists")
		}
	})
}

// serviceMonitors is the resource of serviceMonitorCRD.
var serviceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}

// waitKustomizations waits until done holds for each named Kustomization
// in Slipway's namespace; done also says how each stands, for the failure.
func waitKustomizations(t *testing.T, s *kubetest.Stack, dyn dynamic.Interface, done func(k *unstructured.Unstructured) (bool, string), names ...string) {
	t.Helper()
	ctx := t.Context()
	var last []string
	err := s.Poll(ctx, fluxWait, func() (bool, error) {
		last = last[:0]
		all := true
		for _, n := range names {
			k, err := dyn.Resource(watch.Kustomizations).Namespace(compiler.DefaultFluxNamespace).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				all = false
				last = append(last, n+": "+err.Error())
				continue
			}
			ok, how := done(k)
			all = all && ok
			last = append(last, n+": "+how)
		}
		return all, nil
	})
	if err != nil {
		t.Fatalf("Kustomizations: %v\n%s", err, strings.Join(last, "\n"))
	}
}

// ready is o's Ready condition; empty when it has none.
func ready(o *unstructured.Unstructured) watch.Condition {
	for _, c := range watch.Conditions(o) {
		if c.Type == "Ready" {
			return c
		}
	}
	return watch.Condition{}
}
