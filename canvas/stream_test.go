package canvas_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/users"
	"github.com/slipway-gitops/slipway/watch"
)

// putStatus writes the status record of workflow shop as the status
// leader does: the Deployment of node web with ready of 2 replicas.
func (s *runService) putStatus(t *testing.T, health watch.Health, ready int64) {
	t.Helper()
	desired := int64(2)
	ws := watch.WorkflowStatus{Name: "shop", Cluster: "prod", Result: watch.Result{Health: health}, Sync: watch.Sync{State: "Synced"},
		Nodes: []watch.Node{{ID: "web", Result: watch.Result{Health: health}, Objects: []watch.Object{{Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "web",
			Result: watch.Result{Health: health}, Figures: &watch.Figures{ReadyReplicas: &ready, DesiredReplicas: &desired}}}}}}
	b, err := json.Marshal(ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.PutStatus(t.Context(), "workflows/shop", b); err != nil {
		t.Fatal(err)
	}
}

// meets fails when the JSON data does not meet the contract's schema.
func meets(t *testing.T, schema, data string) {
	t.Helper()
	if err := contract(t, schema).Validate(decode(t, []byte(data))); err != nil {
		t.Errorf("%s does not meet the contract %s: %v", data, schema, err)
	}
}

// streams returns how many event streams the service holds.
func (s *runService) streams(t *testing.T) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.status)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "slipway_event_streams" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no slipway_event_streams")
	return 0
}

// TestStatusStream: the editor's stream starts with the workflow as GET
// /workflows/:id returns it, each node's _status set from the status
// record, then a workflow_sync of every node, then a node_update for each
// node the record's changes change; GET /workflows/:id/status reads the
// same record; the stream is one of the service's event streams, and
// ends when the client goes.
func TestStatusStream(t *testing.T) {
	t.Parallel()
	svc := serveRun(t, hooks.EventsConfig{MaxStreams: 4, MaxStreamsPerClient: 4})
	svc.putStatus(t, watch.Progressing, 0)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	resp, r := svc.openStream(t, ctx, "shop")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:3000" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	meta := readEvent(t, r)
	var doc struct {
		ID    string `json:"id"`
		Nodes []struct {
			ID   string         `json:"id"`
			Data map[string]any `json:"data"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(meta.data), &doc); meta.event != "metadata" || err != nil || doc.ID != "shop" {
		t.Fatalf("first event %s %s (%v), want the workflow's metadata", meta.event, meta.data, err)
	}
	meets(t, "stream-metadata", meta.data)
	for _, n := range doc.Nodes {
		st, _ := n.Data["_status"].(map[string]any)
		switch {
		case n.ID == "web" && (st["state"] != "partial" || st["replicas"] != 2.0 || n.Data["image"] == nil):
			t.Errorf("node web of the metadata: %v, want its data with _status partial of 2 replicas", n.Data)
		case n.ID != "web" && st != nil:
			t.Errorf("node %s has a _status the record does not give: %v", n.ID, st)
		}
	}
	want := func(event, data string) {
		t.Helper()
		e := readEvent(t, r)
		if e.event != event || e.data != data || e.id == "" {
			t.Fatalf("event %+v, want %s %s with an id", e, event, data)
		}
		meets(t, "stream-"+strings.ReplaceAll(event, "_", "-"), e.data)
	}
	want("workflow_sync", `{"type":"workflow","stream_key":"workflow:shop","event_type":"workflow_sync","data":{"nodes":[{"id":"web","data":{"_status":{"state":"partial","replicas":2,"readyReplicas":0}}}]}}`)
	svc.putStatus(t, watch.Healthy, 2)
	want("node_update", `{"type":"workflow","stream_key":"workflow:shop","event_type":"node_update","data":{"node_id":"web","status":{"state":"healthy","replicas":2,"readyReplicas":2}}}`)
	code, body := svc.call(t, http.MethodGet, "/workflows/shop/status", svc.token, "")
	meets(t, "status", body)
	if code != http.StatusOK || !strings.Contains(body, `"state":"healthy","health":"Healthy"`) ||
		!strings.Contains(body, `"nodes":[{"id":"web","data":{"_status":{"state":"healthy","replicas":2,"readyReplicas":2}}}]`) {
		t.Errorf("GET status = %d %s", code, body)
	}
	if n := svc.streams(t); n != 1 {
		t.Errorf("the service holds %v event streams, want the editor's one", n)
	}
	cancel()
	for deadline := time.Now().Add(30 * time.Second); svc.streams(t) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream is still held after its client left")
		}
	}
	for _, tc := range []struct {
		name, path, token string
		code              int
	}{
		{"status of an unknown workflow", "/workflows/nope/status", svc.token, http.StatusNotFound},
		{"stream of an unknown workflow", "/workflows/nope/status/stream", svc.token, http.StatusNotFound},
		{"a status without a token", "/workflows/shop/status", "", http.StatusUnauthorized},
		{"a stream without a token", "/workflows/shop/status/stream", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := svc.call(t, http.MethodGet, tc.path, tc.token, ""); code != tc.code {
				t.Errorf("GET %s = %d %s, want %d", tc.path, code, body, tc.code)
			}
		})
	}
	if code, body := svc.call(t, http.MethodGet, "/workflows/batch/status", svc.token, ""); code != http.StatusOK || !strings.Contains(body, `"state":"unknown"`) {
		t.Errorf("a workflow without a record: %d %s", code, body)
	}
}

// TestStreamLimitPerUser: the editor's streams count against their
// signed-in user, not their address: one user at the limit does not stop
// another from the same address (as behind an authenticating proxy,
// which every user shares) from opening one.
func TestStreamLimitPerUser(t *testing.T) {
	t.Parallel()
	ada := serveRun(t, hooks.EventsConfig{MaxStreams: 4, MaxStreamsPerClient: 1})
	ada.putStatus(t, watch.Healthy, 2)
	accounts, err := users.New(ada.store, users.Options{Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Add(t.Context(), "bob@example.com", "Bob", "user", password); err != nil {
		t.Fatal(err)
	}
	sess, err := accounts.Login(t.Context(), "bob@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	bob := *ada
	bob.token = sess.Token
	for _, step := range []struct {
		name string
		user *runService
		want int
	}{
		{"ada's first", ada, http.StatusOK},
		{"ada's second, over her limit", ada, http.StatusServiceUnavailable},
		{"bob's first, from the same address", &bob, http.StatusOK},
	} {
		// The steps hold their streams till the test ends: no subtests,
		// whose ends would close them.
		resp, r := step.user.openStream(t, t.Context(), "shop")
		if resp.StatusCode != step.want {
			t.Fatalf("%s: status %d, want %d", step.name, resp.StatusCode, step.want)
		}
		if step.want != http.StatusOK {
			if b, _ := io.ReadAll(r); !strings.Contains(string(b), "you hold 1 event streams") {
				t.Errorf("%s: refusal %s, want it to say the user holds the most streams", step.name, b)
			}
			continue
		}
		if e := readEvent(t, r); e.event != "metadata" {
			t.Errorf("%s: first event %+v, want metadata", step.name, e)
		}
	}
}
