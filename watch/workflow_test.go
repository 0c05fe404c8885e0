package watch

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// treeResolver answers from fixed maps, as a deploy branch would.
type treeResolver struct {
	revisions map[string]Revision
	expected  map[string][]Ref
}

func (r treeResolver) Resolve(_ context.Context, commit, _ string) (Revision, error) {
	rev, ok := r.revisions[commit]
	if !ok {
		return Revision{}, errors.New("unknown commit")
	}
	return rev, nil
}

func (r treeResolver) Expected(_ context.Context, commit, _ string) ([]Ref, error) {
	return r.expected[commit], nil
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	r := treeResolver{
		revisions: map[string]Revision{
			"aaa": {DeployCommit: "aaa", SourceCommit: "s1", Version: 3},
			"bbb": {DeployCommit: "bbb", SourceCommit: "s2", Version: 4},
		},
		expected: map[string][]Ref{"aaa": {{"Deployment", "web"}, {"Service", "web"}, {"Certificate", "tls"}}},
	}
	web := Object{Kind: "Deployment", Name: "web", Workflow: "shop", Node: "web", Result: Result{Healthy, ""}}
	svc := Object{Kind: "Service", Name: "web", Workflow: "shop", Node: "svc", Result: Result{Healthy, ""}}
	old := Object{Kind: "ConfigMap", Name: "old", Workflow: "shop", Node: "gone", Result: Result{Healthy, ""}}
	other := Object{Kind: "Deployment", Name: "db", Workflow: "database", Result: Result{Degraded, "x"}}
	ks := func(t *testing.T, doc string) map[string]*unstructured.Unstructured {
		return map[string]*unstructured.Unstructured{"shop": object(t, doc)}
	}
	tests := []struct {
		name      string
		snap      func(t *testing.T) Snapshot
		health    Health
		reason    string
		sync      Sync
		drift     Drift
		nodeCount int
	}{
		{"synced and healthy, other workflows ignored", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc, other}, Kustomizations: ks(t, `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop}
status: {lastAppliedRevision: "deploy@sha1:aaa", lastAttemptedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True"}]}`)}
		}, Healthy, "", Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}}, Drift{}, 2},
		{"a failed apply keeps the previous version live", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc}, Kustomizations: ks(t, `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop}
status: {lastAppliedRevision: "deploy@sha1:aaa", lastAttemptedRevision: "deploy@sha1:bbb", conditions: [{type: Ready, status: "False", reason: ReconciliationFailed, message: "Deployment/web dry-run failed"}]}`)}
		}, Degraded, "Flux: not ready: ReconciliationFailed: Deployment/web dry-run failed",
			Sync{State: Failed, Live: &Revision{"aaa", "s1", 3}, Attempted: &Revision{"bbb", "s2", 4}, Message: "Deployment/web dry-run failed"}, Drift{}, 2},
		{"drift both ways; unwatched kinds are not compared", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, old}, Kustomizations: ks(t, `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop}
status: {lastAppliedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True"}]}`)}
		}, Missing, "Service web: in the deploy tree, not in the cluster",
			Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}}, Drift{Missing: []Ref{{"Service", "web"}}, Extra: []Ref{{"ConfigMap", "old"}}}, 3},
		{"not deployed", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true}
		}, Unknown, "not deployed to cluster prod yet", Sync{State: NotDeployed}, Drift{}, 0},
		{"cluster unreadable", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Error: "connection refused"}
		}, Unknown, "cluster prod cannot be read: connection refused", Sync{State: NotDeployed}, Drift{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := StatusOf(t.Context(), tc.snap(t), "shop", r)
			if ws.Health != tc.health || ws.Reason != tc.reason {
				t.Errorf("health %s %q, want %s %q", ws.Health, ws.Reason, tc.health, tc.reason)
			}
			if !reflect.DeepEqual(ws.Sync, tc.sync) {
				t.Errorf("sync %+v, want %+v", ws.Sync, tc.sync)
			}
			if !reflect.DeepEqual(ws.Drift, tc.drift) {
				t.Errorf("drift %+v, want %+v", ws.Drift, tc.drift)
			}
			if len(ws.Nodes) != tc.nodeCount {
				t.Errorf("%d nodes, want %d: %+v", len(ws.Nodes), tc.nodeCount, ws.Nodes)
			}
		})
	}
}

func TestCommitOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"deploy@sha1:abc": "abc", "deploy/abc": "abc", "abc": "abc"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if got := CommitOf(in); got != want {
				t.Errorf("CommitOf(%q) = %q, want %q", in, got, want)
			}
		})
	}
}
