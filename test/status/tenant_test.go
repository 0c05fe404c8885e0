package status_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// TestTenantKustomization runs the status publisher against a stack that
// serves Flux's kinds and runs none of its controllers, so that the test
// alone writes the Kustomizations' status. A tenant's Kustomization,
// labelled as workflow web and Ready at a revision of the tenant's
// choosing, is listed in web's drift and never read as its sync: web's
// record shows the revision its Kustomization in Slipway's namespace
// applied.
func TestTenantKustomization(t *testing.T) {
	s, _ := kubetest.ForTest(t, binDir, false)
	ctx := t.Context()
	bin, _ := filepath.Abs(binDir)
	crds, err := os.ReadFile(filepath.Join(bin, "flux-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, crds); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	repo, res := deploytest.Deploy(t, "../../fixtures/e2e", "")
	spoof := "0123456789abcdef0123456789abcdef01234567"
	// kustomization creates web's Kustomization in namespace ns, Ready at
	// deploy commit commit.
	kustomization := func(ns, commit string) {
		t.Helper()
		if err := s.Apply(ctx, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: `+ns+`}
`)); err != nil {
			t.Fatal(err)
		}
		k := []byte(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: web
  namespace: ` + ns + `
  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: web}
spec:
  interval: 10m
  path: ./workflows/web/default
  prune: true
  sourceRef: {kind: GitRepository, name: slipway}
`)
		// The CRDs are served a moment after they are created.
		err := s.Poll(ctx, time.Minute, func() (bool, error) { return s.Apply(ctx, k) == nil, nil })
		if err != nil {
			t.Fatalf("create Kustomization %s/web: %v", ns, err)
		}
		ks := dyn.Resource(watch.Kustomizations).Namespace(ns)
		u, err := ks.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rev := "deploy@sha1:" + commit
		status := map[string]any{"observedGeneration": u.GetGeneration(), "lastAppliedRevision": rev, "lastAttemptedRevision": rev,
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: " + rev,
				"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}
		if err := unstructured.SetNestedField(u.Object, status, "status"); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kustomization("tenant", spoof)

	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, err := hooks.NewStatusPublisher(hooks.StatusPublisherConfig{Store: st, Deploy: repo, DeployBranch: "deploy", Source: repo,
		Contexts: func([]string) (map[string]*rest.Config, error) {
			return map[string]*rest.Config{"default": s.Config}, nil
		},
		ID: "test", Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinWrite: 200 * time.Millisecond, Refresh: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- pub.Run(pctx) }()
	t.Cleanup(func() { stop(); <-done })

	kustomization("slipway", res.DeployCommit)
	tenant := watch.Ref{Group: watch.Kustomizations.Group, Kind: "Kustomization", Namespace: "tenant", Name: "web"}
	ws := waitRecord(t, s, st, "web", "web's Kustomization in Slipway's namespace read", func(ws *watch.WorkflowStatus) bool {
		return ws.Sync.Live != nil && ws.Sync.Live.DeployCommit == res.DeployCommit
	})
	// Each round reads both Kustomizations: the record that shows the
	// one lists the other.
	if ws.Sync.State != watch.Synced || !slices.Contains(ws.Drift.Extra, tenant) {
		b, _ := json.MarshalIndent(ws, "", "  ")
		t.Errorf("want sync Synced at %s and %+v in the drift; record:\n%s", res.DeployCommit, tenant, b)
	}
}
