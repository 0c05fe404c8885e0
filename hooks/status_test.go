package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// TestPublisherWithoutClusters: with no context for a cluster, its
// workflows are recorded as not watched, never as healthy.
func TestPublisherWithoutClusters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := runPublisher(t, map[string]*rest.Config{})
	var o *Overview
	var err error
	for range 100 {
		if o, err = readOverview(ctx, st); err != nil {
			t.Fatal(err)
		}
		if len(o.Workflows) == 3 && len(o.Clusters) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(o.Workflows) != 3 || len(o.Clusters) != 2 {
		t.Fatalf("overview %+v", o)
	}
	for _, cs := range o.Clusters {
		if cs.Watched || cs.Health != watch.NotWatched {
			t.Errorf("cluster %s: %+v", cs.Name, cs)
		}
	}
	for _, ws := range o.Workflows {
		if ws.Health != watch.NotWatched || ws.Sync.State != watch.Unwatched {
			t.Errorf("workflow %s: %+v", ws.Name, ws)
		}
	}
}

// TestPublisherUnreachableCluster: a cluster whose API server does not
// answer is recorded as unreachable, and one without a context as
// neither reachable nor unreachable.
func TestPublisherUnreachableCluster(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1 of loopback.
	st := runPublisher(t, map[string]*rest.Config{"prod": {Host: "http://127.0.0.1:1"}})
	api, err := NewStatusAPI(StatusAPIConfig{Reader: st, Heartbeat: time.Minute, Done: t.Context().Done()})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]ClusterStatus
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if got, err = api.ClusterStatuses(t.Context()); err != nil {
			t.Fatal(err)
		}
		// Each cluster's record is written on its own: wait for both.
		_, staging := got["staging"]
		if got["prod"].Reachable != nil && staging || time.Now().After(deadline) {
			break
		}
	}
	if prod := got["prod"]; prod.Reachable == nil || *prod.Reachable || !strings.Contains(prod.Reason, "unreachable since") {
		t.Errorf("prod %+v, want unreachable", prod)
	}
	if staging, ok := got["staging"]; !ok || staging.Watched || staging.Reachable != nil {
		t.Errorf("staging %+v, want not watched, its reachability unknown", staging)
	}
}

// runPublisher runs a status publisher of the fixture repository until
// the test ends, watching the clusters of contexts, and returns the store
// it writes to.
func runPublisher(t *testing.T, contexts map[string]*rest.Config) *store.Store {
	t.Helper()
	repo, _ := deploytest.Deploy(t, "../fixtures/repo", "")
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub := must(NewStatusPublisher(StatusPublisherConfig{Store: st, Deploy: repo, DeployBranch: "deploy", Source: repo,
		Contexts: func([]string) (map[string]*rest.Config, error) { return contexts, nil },
		ID:       "test", Log: slog.New(slog.DiscardHandler), MinWrite: time.Millisecond, Refresh: time.Hour}))(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return st
}

// readOverview reads every cluster and workflow record as the API lists
// them.
func readOverview(ctx context.Context, r StatusReader) (*Overview, error) {
	recs, rev, err := r.Statuses(ctx, "")
	if err != nil {
		return nil, err
	}
	o := &Overview{Revision: rev, Clusters: []ClusterStatus{}, Workflows: []watch.WorkflowStatus{}}
	for _, rec := range recs {
		switch {
		case strings.HasPrefix(rec.Key, statusClusters):
			var cs ClusterStatus
			if err := json.Unmarshal(rec.Value, &cs); err != nil {
				return nil, fmt.Errorf("status record %s: %w", rec.Key, err)
			}
			o.Clusters = append(o.Clusters, cs)
		case strings.HasPrefix(rec.Key, statusWorkflows):
			var ws watch.WorkflowStatus
			if err := json.Unmarshal(rec.Value, &ws); err != nil {
				return nil, fmt.Errorf("status record %s: %w", rec.Key, err)
			}
			o.Workflows = append(o.Workflows, ws)
		}
	}
	return o, nil
}

// TestStatusHoldBack: a changed record is held back within MinWrite of
// its last write, unless the workflow reached a new milestone (its sync
// state or live revision), which a reader waits for after a push.
func TestStatusHoldBack(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	live := func(state, commit string) string {
		return milestone(watch.WorkflowStatus{Sync: watch.Sync{State: state, Live: &watch.Revision{DeployCommit: commit}}})
	}
	st := &publishState{
		written:    map[string][]byte{"w": []byte("old")},
		at:         map[string]time.Time{"w": at},
		milestones: map[string]string{"w": live(watch.Synced, "aaa")},
	}
	for _, tc := range []struct {
		name  string
		key   string
		value string
		mark  string
		after time.Duration
		want  time.Duration
	}{
		{"unchanged", "w", "old", live(watch.Synced, "aaa"), 0, -1},
		{"changed within MinWrite", "w", "new", live(watch.Synced, "aaa"), 300 * time.Millisecond, 700 * time.Millisecond},
		{"changed after MinWrite", "w", "new", live(watch.Synced, "aaa"), time.Second, 0},
		{"a new live revision", "w", "new", live(watch.RollingOut, "bbb"), 300 * time.Millisecond, 0},
		{"a new sync state", "w", "new", live(watch.Applying, "aaa"), 10 * time.Millisecond, 0},
		{"a record never written", "other", "new", "", 0, 0},
	} {
		if got := st.holdBack(tc.key, []byte(tc.value), tc.mark, at.Add(tc.after), time.Second); got != tc.want {
			t.Errorf("%s: held back %v, want %v", tc.name, got, tc.want)
		}
	}
}
