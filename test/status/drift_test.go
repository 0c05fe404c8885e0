package status_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/watch"
)

// statusReader applies the account compiler bootstrap renders for the
// status watches and returns a client configuration that authenticates
// as it, with a token from the TokenRequest API (kubectl create token).
func (f *fluxStack) statusReader(t *testing.T) *rest.Config {
	t.Helper()
	ctx := t.Context()
	opts := compiler.DefaultOptions()
	manifests, err := compiler.StatusReader(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(ctx, manifests); err != nil {
		t.Fatal(err)
	}
	ttl := int64(3600)
	tok, err := f.Client.CoreV1().ServiceAccounts(opts.SourceRefNamespace).CreateToken(ctx, compiler.StatusReaderName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(f.Config)
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// changesOf returns the field drift shown on a workflow's object.
func changesOf(ws *watch.WorkflowStatus, kind, name string) []watch.FieldChange {
	for _, n := range ws.Nodes {
		for _, o := range n.Objects {
			if o.Kind == kind && o.Name == name {
				return o.Changes
			}
		}
	}
	return nil
}

// apiDeployment is a Deployment no HPA scales, added to the jobs
// workflow's base on the deploy branch.
const apiDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: jobs, app.kubernetes.io/name: api}
  annotations: {slipway.dev/node-id: api}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/part-of: jobs, app.kubernetes.io/name: api}
  template:
    metadata:
      labels: {app.kubernetes.io/part-of: jobs, app.kubernetes.io/name: api}
    spec:
      containers:
      - name: api
        image: nginx:1.27
`

func TestDrift(t *testing.T) {
	f := startFlux(t)
	ctx := t.Context()
	waitRecord(t, f.Stack, f.st, "jobs", "jobs Healthy and Synced", func(ws *watch.WorkflowStatus) bool {
		return ws.Health == watch.Healthy && ws.Sync.State == watch.Synced
	})

	t.Run("the watches run as the status reader, which may not read Secrets", func(t *testing.T) {
		cfg := f.statusReader(t)
		c, err := watch.NewCluster("default", cfg, f.log, watch.WithClusterKustomization(compiler.ClusterKustomizationName("default")))
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { c.Run(wctx); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		r := deployCommits{f.repo}
		waitSnapshot(t, f.Stack, c, "jobs Synced and Healthy as the status reader", func(snap watch.Snapshot) bool {
			ws := watch.StatusOf(ctx, snap, "jobs", r)
			return snap.Synced && snap.Error == "" && ws.Sync.State == watch.Synced && ws.Health == watch.Healthy &&
				snap.ClusterSource() != nil && snap.ClusterKustomization != nil
		})
		// The reconcile request is the one write, and it is allowed.
		src, err := hooks.NewFluxSource(hooks.FluxSourceConfig{Contexts: func() (map[string]*rest.Config, error) { return map[string]*rest.Config{"default": cfg}, nil },
			Namespace: compiler.DefaultOptions().SourceRefNamespace, Name: compiler.DefaultOptions().SourceRefName, Log: f.log})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.RequestReconcile(ctx); err != nil {
			t.Errorf("the status reader may not ask Flux to reconcile: %v", err)
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list secrets as the status reader: %v, want Forbidden", err)
		}
		if _, err := client.CoreV1().Secrets(compiler.DefaultOptions().SourceRefNamespace).Get(ctx, "any", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("get a secret as the status reader: %v, want Forbidden", err)
		}
	})

	t.Run("a description-only commit is live without a deploy commit", func(t *testing.T) {
		c, err := compiler.New(compiler.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		d, err := deployer.New(f.repo, f.repo, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		work := filepath.Join(t.TempDir(), "work")
		gittest.Git(t, filepath.Dir(work), "clone", "-q", "-b", "main", filepath.Join(f.gitRoot, "e2e.git"), work)
		p := filepath.Join("workflows", "web.json")
		b, err := os.ReadFile(filepath.Join(work, p))
		if err != nil {
			t.Fatal(err)
		}
		described := bytes.Replace(b, []byte(`"description": "A web tier:`), []byte(`"description": "The web tier:`), 1)
		if bytes.Equal(described, b) {
			t.Fatal("web.json's description is not the fixture's")
		}
		head := gittest.Commit(t, work, "Describe the web tier better", map[string][]byte{p: described})
		gittest.Git(t, work, "push", "-q", "origin", "main")
		pushed := time.Now()
		res, err := d.Deploy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Committed || res.DeployCommit != f.res.DeployCommit {
			t.Fatalf("the description-only commit made deploy commit %s (committed %t), want none", res.DeployCommit, res.Committed)
		}
		for _, wf := range []string{"web", "jobs"} {
			ws := waitRecord(t, f.Stack, f.st, wf, wf+" live at the described source head", func(ws *watch.WorkflowStatus) bool {
				return ws.Sync.Live != nil && ws.Sync.Live.SourceCommit == head
			})
			if ws.Sync.Live.DeployCommit != f.res.DeployCommit {
				t.Errorf("%s live at deploy commit %s, want %s", wf, ws.Sync.Live.DeployCommit, f.res.DeployCommit)
			}
			if wf == "web" && ws.Sync.Live.Version != 2 {
				t.Errorf("web's live version %d, want 2", ws.Sync.Live.Version)
			}
		}
		t.Logf("push → live at the described head: %s", time.Since(pushed).Round(time.Millisecond))
		deployHead, err := f.repo.Branch("deploy")
		if err != nil {
			t.Fatal(err)
		}
		if deployHead.String() != f.res.DeployCommit {
			t.Errorf("the deploy branch moved to %s", deployHead)
		}
	})

	t.Run("kubectl scale shows as field drift until Flux applies again", func(t *testing.T) {
		dir := "workflows/jobs/base/"
		k := f.deployFile(t, dir+"kustomization.yaml")
		f.push(t, "Add a Deployment no HPA scales", map[string][]byte{
			dir + "deployment-api.yaml": []byte(apiDeployment),
			dir + "kustomization.yaml":  bytes.Replace(k, []byte("resources:\n"), []byte("resources:\n- deployment-api.yaml\n"), 1),
		})
		reconcileNow(t, f.dyn, "jobs")
		waitRecord(t, f.Stack, f.st, "jobs", "the api Deployment applied", func(ws *watch.WorkflowStatus) bool {
			return nodeHealth(ws, "api") != "" && nodeHealth(ws, "api") != watch.Missing && ws.Sync.State == watch.Synced
		})
		scale := func(ns, name string, replicas int32) {
			t.Helper()
			deployments := f.Client.AppsV1().Deployments(ns)
			_, err := deployments.UpdateScale(ctx, name, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}},
				metav1.UpdateOptions{FieldManager: "kubectl-scale"})
			if err != nil {
				t.Fatal(err)
			}
		}
		// web's replicas are its HPA's, which Flux ignores: scaling it
		// is no drift. It is scaled first, so that once api's drift is
		// seen, so is web's scale.
		scale("web", "web", 3)
		apiNS := namespaceOf(t, f, "jobs", "Deployment", "api")
		scale(apiNS, "api", 3)
		scaled := time.Now()
		ws := waitRecord(t, f.Stack, f.st, "jobs", "the scale shown as field drift", func(ws *watch.WorkflowStatus) bool {
			return len(changesOf(ws, "Deployment", "api")) > 0
		})
		got := changesOf(ws, "Deployment", "api")
		// The API server records no time for an update through the scale
		// subresource, so none is shown.
		if len(got) != 1 || got[0].Field != "spec.replicas" || got[0].Manager != "kubectl-scale" {
			t.Errorf("api's field drift %+v, want spec.replicas by kubectl-scale", got)
		}
		t.Logf("field drift: %s (%s after the scale)", got[0], time.Since(scaled).Round(time.Millisecond))
		if web := record(t, f.st, "web"); len(changesOf(web, "Deployment", "web")) > 0 {
			t.Errorf("the HPA's replicas shown as drift: %+v", changesOf(web, "Deployment", "web"))
		}
		reconcileNow(t, f.dyn, "jobs")
		waitRecord(t, f.Stack, f.st, "jobs", "Flux's apply clears the field drift", func(ws *watch.WorkflowStatus) bool {
			return nodeHealth(ws, "api") != "" && len(changesOf(ws, "Deployment", "api")) == 0
		})
		d, err := f.Client.AppsV1().Deployments(apiNS).Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("Flux left api at %v replicas, want 1", d.Spec.Replicas)
		}
	})
}

// namespaceOf returns the namespace of a workflow's live object.
func namespaceOf(t *testing.T, f *fluxStack, wf, kind, name string) string {
	t.Helper()
	ws := record(t, f.st, wf)
	for _, n := range ws.Nodes {
		if i := slices.IndexFunc(n.Objects, func(o watch.Object) bool { return o.Kind == kind && o.Name == name }); i >= 0 {
			return n.Objects[i].Namespace
		}
	}
	t.Fatalf("%s has no %s %s", wf, kind, name)
	return ""
}
