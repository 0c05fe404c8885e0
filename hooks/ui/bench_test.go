package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// benchStatus fills a store with 100 workflows of 20 nodes, two objects
// each, with conditions, in one cluster, and serves the API and overview.
func benchStatus(b *testing.B) *fiber.App {
	b.Helper()
	s, err := store.Open(b.Context(), store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var names []string
	for w := range 100 {
		ws := watch.WorkflowStatus{Name: fmt.Sprintf("wf-%03d", w), Cluster: "prod", Result: watch.Result{Health: watch.Healthy},
			Sync: watch.Sync{State: watch.Synced, Live: &watch.Revision{DeployCommit: fmt.Sprintf("%040d", w), SourceCommit: fmt.Sprintf("%040d", w+1), Version: w + 1}}}
		for n := range 20 {
			node := watch.Node{ID: fmt.Sprintf("node-%d", n), Result: watch.Result{Health: watch.Healthy}}
			for _, kind := range []string{"Deployment", "Service"} {
				node.Objects = append(node.Objects, watch.Object{Kind: kind, Namespace: ws.Name, Name: node.ID, Result: watch.Result{Health: watch.Healthy},
					Conditions: []watch.Condition{{Type: "Available", Status: "True", Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}}})
			}
			ws.Nodes = append(ws.Nodes, node)
		}
		v, _ := json.Marshal(ws)
		if _, err := s.PutStatus(b.Context(), "workflows/"+ws.Name, v); err != nil {
			b.Fatal(err)
		}
		names = append(names, ws.Name)
	}
	v, _ := json.Marshal(hooks.ClusterStatus{Name: "prod", Watched: true, Result: watch.Result{Health: watch.Healthy}, Workflows: names})
	if _, err := s.PutStatus(b.Context(), "clusters/prod", v); err != nil {
		b.Fatal(err)
	}
	app := fiber.New()
	api, err := hooks.NewStatusAPI(hooks.StatusAPIConfig{Reader: s, Heartbeat: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	api.Mount(app)
	p, err := New(Config{Status: s, Kubeconfig: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	p.Mount(app)
	return app
}

// BenchmarkStatus measures server time of /api/status and the overview
// page for 100 workflows (2,000 nodes, 4,000 objects), etcd included.
func BenchmarkStatus(b *testing.B) {
	app := benchStatus(b)
	for _, path := range []string{"/api/status", "/"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("GET %s: %v %v", path, resp.StatusCode, err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				b.SetBytes(n)
			}
		})
	}
}
