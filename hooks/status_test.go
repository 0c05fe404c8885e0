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
	repo, _ := deploytest.Deploy(t, "../fixtures/repo", "")
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub := must(NewStatusPublisher(StatusPublisherConfig{Store: st, Deploy: repo, DeployBranch: "deploy", Source: repo,
		Contexts: func([]string) (map[string]*rest.Config, error) { return map[string]*rest.Config{}, nil },
		ID:       "test", Log: slog.New(slog.DiscardHandler), MinWrite: time.Millisecond, Refresh: time.Hour}))(t)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Run(pctx) }()
	defer func() { stop(); <-done }()
	var o *Overview
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
