package status_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
)

// waitSnapshot polls a cluster's snapshot until ok holds.
func waitSnapshot(t *testing.T, s *kubetest.Stack, c *watch.Cluster, what string, ok func(watch.Snapshot) bool) {
	t.Helper()
	began := time.Now()
	var last watch.Snapshot
	err := s.Poll(t.Context(), 2*time.Minute, func() (bool, error) {
		last = c.Snapshot()
		return ok(last), nil
	})
	if err != nil {
		t.Fatalf("%s: %v; last snapshot: synced %t, error %q, %d objects", what, err, last.Synced, last.Error, len(last.Objects))
	}
	t.Logf("%s after %s", what, time.Since(began).Round(time.Millisecond))
}

func hasObject(snap watch.Snapshot, kind, name string) bool {
	return slices.ContainsFunc(snap.Objects, func(o watch.Object) bool { return o.Kind == kind && o.Name == name })
}

// TestClusterWatch runs a cluster's watches against a stack without Flux:
// resource types served after the start are watched, and an API server
// that goes away is shown as such, with since when, until the watches are
// current again.
func TestClusterWatch(t *testing.T) {
	s, _ := kubetest.ForTest(t, binDir, false)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := watch.NewCluster("default", s.Config, log, watch.WithDiscoveryInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitSnapshot(t, s, c, "the watches synced", func(snap watch.Snapshot) bool { return snap.Synced && snap.Error == "" })

	t.Run("Flux's CRDs installed after the start are watched", func(t *testing.T) {
		bin, _ := filepath.Abs(binDir)
		crds, err := os.ReadFile(filepath.Join(bin, "flux-crds.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, crds); err != nil {
			t.Fatal(err)
		}
		k := []byte(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: demo
  namespace: default
  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: demo}
spec:
  interval: 10m
  path: ./workflows/demo
  prune: true
  sourceRef: {kind: GitRepository, name: slipway}
`)
		if err := s.Apply(ctx, k); err != nil {
			t.Fatal(err)
		}
		waitSnapshot(t, s, c, "the Kustomization seen", func(snap watch.Snapshot) bool { return snap.Kustomization("demo") != nil })
	})
	t.Run("an unreachable API server is shown with since when, and the watches resume", func(t *testing.T) {
		// The API server stops answering as soon as its shutdown begins.
		halting := time.Now()
		h, err := s.Halt("kube-apiserver")
		if err != nil {
			t.Fatal(err)
		}
		waitSnapshot(t, s, c, "the cluster shown unreachable", func(snap watch.Snapshot) bool { return snap.Error != "" })
		snap := c.Snapshot()
		if snap.Since.Before(halting) || !strings.Contains(snap.Unreadable(), "unreachable since") {
			t.Errorf("unreachable since %s (halting from %s): %q", snap.Since, halting, snap.Unreadable())
		}
		if snap.Kustomization("demo") == nil {
			t.Error("what was seen before the outage is gone from the snapshot")
		}
		if err := h.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		cm := []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: after-outage
  namespace: default
  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: demo}
`)
		if err := s.Apply(ctx, cm); err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		waitSnapshot(t, s, c, "a ConfigMap created after the outage seen", func(snap watch.Snapshot) bool {
			return snap.Error == "" && hasObject(snap, "ConfigMap", "after-outage")
		})
		if took := time.Since(created); took > 10*time.Second {
			t.Errorf("the watches were current again %s after the API server answered, want within 10s", took.Round(time.Millisecond))
		}
	})
}
