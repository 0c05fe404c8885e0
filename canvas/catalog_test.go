package canvas_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/watch"
)

// TestClusterConnection: a cluster's status in GET /clusters is what the
// status leader's record says of its watch, in the editor's words.
func TestClusterConnection(t *testing.T) {
	t.Parallel()
	svc := serveRun(t, hooks.EventsConfig{})
	for _, tc := range []struct {
		name   string
		record *hooks.ClusterStatus
		want   string
	}{
		{"no record yet", nil, "unknown"},
		{"not watched", &hooks.ClusterStatus{Name: "prod", Result: watch.Result{Health: watch.NotWatched}}, "unknown"},
		{"not listed yet", &hooks.ClusterStatus{Name: "prod", Watched: true, Result: watch.Result{Health: watch.Unknown, Reason: "watches not synced yet"}}, "unknown"},
		{"reachable", &hooks.ClusterStatus{Name: "prod", Watched: true, Reachable: new(true), Result: watch.Result{Health: watch.Healthy}}, "connected"},
		{"unreachable", &hooks.ClusterStatus{Name: "prod", Watched: true, Reachable: new(false),
			Result: watch.Result{Health: watch.Unknown, Reason: "unreachable since 2026-12-04T14:05:01Z: connection refused"}}, "disconnected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.record != nil {
				b, err := json.Marshal(tc.record)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.store.PutStatus(t.Context(), "clusters/prod", b); err != nil {
					t.Fatal(err)
				}
			}
			code, body := svc.call(t, http.MethodGet, "/clusters", svc.token, "")
			meets(t, "clusters", body)
			var list struct {
				Clusters []struct{ Name, Status string }
			}
			if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
				t.Fatalf("GET /clusters = %d %s", code, body)
			}
			got := map[string]string{}
			for _, cl := range list.Clusters {
				got[cl.Name] = cl.Status
			}
			if got["prod"] != tc.want || got["staging"] != "unknown" {
				t.Errorf("statuses %v, want prod %s and staging, which has no record, unknown", got, tc.want)
			}
			var one struct{ Status string }
			if code, body := svc.call(t, http.MethodGet, "/clusters/prod", svc.token, ""); code != http.StatusOK || json.Unmarshal([]byte(body), &one) != nil || one.Status != tc.want {
				t.Errorf("GET /clusters/prod = %d %s, want status %s", code, body, tc.want)
			}
		})
	}
}
