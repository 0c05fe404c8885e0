package watch

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// treeResolver answers from fixed maps, as a deploy branch would.
type treeResolver struct {
	revisions map[string]Revision
	expected  map[string][]Expected
}

func (r treeResolver) Resolve(_ context.Context, commit, _ string) (Revision, error) {
	rev, ok := r.revisions[commit]
	if !ok {
		return Revision{}, errors.New("unknown commit")
	}
	return rev, nil
}

func (r treeResolver) Expected(_ context.Context, commit, _ string) ([]Expected, error) {
	return r.expected[commit], nil
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	r := treeResolver{
		revisions: map[string]Revision{
			"aaa": {DeployCommit: "aaa", SourceCommit: "s1", Version: 3},
			"bbb": {DeployCommit: "bbb", SourceCommit: "s2", Version: 4},
		},
		// Read from base files for their kinds alone: no group, no
		// namespace, as hooks reads them; a plugin kind named like a core
		// one is not watched.
		expected: map[string][]Expected{"aaa": {
			{Ref: Ref{Kind: "Deployment", Name: "web"}, Node: "web"},
			{Ref: Ref{Kind: "Service", Name: "web"}, Node: "svc"},
			{Ref: Ref{Group: "serving.knative.dev", Kind: "Service", Name: "web"}, Node: "knative"},
			{Ref: Ref{Kind: "Certificate", Name: "tls"}, Node: "tls"},
		}},
	}
	web := Object{Kind: "Deployment", Group: "apps", Namespace: "shop", Name: "web", Workflow: "shop", Node: "web", Result: Result{Healthy, ""}}
	svc := Object{Kind: "Service", Namespace: "shop", Name: "web", Workflow: "shop", Node: "svc", Result: Result{Healthy, ""}}
	old := Object{Kind: "ConfigMap", Namespace: "shop", Name: "old", Workflow: "shop", Node: "gone", Result: Result{Healthy, ""}}
	// A Deployment named web in another namespace is not the expected one.
	elsewhere := Object{Kind: "Deployment", Group: "apps", Namespace: "other", Name: "web", Workflow: "shop", Node: "web", Result: Result{Healthy, ""}}
	// Anyone who may write in another namespace may label a failing
	// Deployment as shop's web.
	spoof := Object{Kind: "Deployment", Group: "apps", Namespace: "tenant", Name: "web", Workflow: "shop", Node: "web", Result: Result{Degraded, "ImagePullBackOff"}}
	// A CronJob's Job carries the CronJob's labels; it is not drift, and its
	// failure is the CronJob's to report.
	run := Object{Kind: "Job", Group: "batch", Namespace: "shop", Name: "report-29000000", Workflow: "shop", Owned: true, Result: Result{Degraded, "failed"}}
	issuer := Object{Kind: "ClusterIssuer", Group: "cert-manager.io", Name: "letsencrypt", Workflow: "shop", Node: "issuer", Result: Result{Healthy, ""}}
	rolling := web
	rolling.Result = Result{Progressing, "Available: 0/2"}
	other := Object{Kind: "Deployment", Group: "apps", Namespace: "database", Name: "db", Workflow: "database", Result: Result{Degraded, "x"}}
	// ks is Flux's Kustomization shop, in status.
	ks := func(t *testing.T, status string) map[string]*unstructured.Unstructured {
		return map[string]*unstructured.Unstructured{"shop": object(t, `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop}
spec: {targetNamespace: shop}
`+status)}
	}
	// nextRevision is Flux on its way from revision aaa to bbb, its
	// conditions as given.
	nextRevision := func(conditions ...string) func(t *testing.T) Snapshot {
		return func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc}, Kustomizations: ks(t, `
status:
  lastAppliedRevision: "deploy@sha1:aaa"
  lastAttemptedRevision: "deploy@sha1:bbb"
  conditions:
  - `+strings.Join(conditions, "\n  - "))}
		}
	}
	const healthFailed = "health check failed after 5m0s: timeout waiting for: [Deployment/shop/web status: 'InProgress']"
	tests := []struct {
		name   string
		snap   func(t *testing.T) Snapshot
		health Health
		reason string
		sync   Sync
		drift  Drift
		nodes  []string // id=health
	}{
		{"synced and healthy, other workflows ignored", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc, other, run}, Kustomizations: ks(t, `
status: {lastAppliedRevision: "deploy@sha1:aaa", lastAttemptedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True"}]}`)}
		}, Healthy, "", Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}}, Drift{}, []string{"svc=Healthy", "web=Healthy"}},
		{"an object of the workflow's outside its namespaces is drift, not its health", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc, spoof}, Kustomizations: ks(t, `
status: {lastAppliedRevision: "deploy@sha1:aaa", lastAttemptedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True"}]}`)}
		}, Healthy, "", Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}},
			Drift{Extra: []Ref{{Group: "apps", Kind: "Deployment", Namespace: "tenant", Name: "web"}}}, []string{"svc=Healthy", "web=Healthy"}},
		{"a failed apply keeps the previous version live", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc}, Kustomizations: ks(t, `
status: {lastAppliedRevision: "deploy@sha1:aaa", lastAttemptedRevision: "deploy@sha1:bbb", conditions: [{type: Ready, status: "False", reason: ReconciliationFailed, message: "Deployment/web dry-run failed"}]}`)}
		}, Degraded, "Flux: failed: ReconciliationFailed: Deployment/web dry-run failed",
			Sync{State: Failed, Live: &Revision{"aaa", "s1", 3}, Attempted: &Revision{"bbb", "s2", 4}, Reason: "ReconciliationFailed", Message: "Deployment/web dry-run failed"}, Drift{}, []string{"svc=Healthy", "web=Healthy"}},
		{"applied, health checked: the new version is live, rolling out", nextRevision(
			`{type: Ready, status: "Unknown", reason: Progressing, message: "Reconciliation in progress"}`,
			`{type: Reconciling, status: "True", reason: Progressing, message: "Running health checks for revision deploy@sha1:bbb with a timeout of 5m0s"}`,
			`{type: Healthy, status: "Unknown", reason: Progressing, message: "Running health checks for revision deploy@sha1:bbb with a timeout of 5m0s"}`),
			Progressing, "Flux: Running health checks for revision deploy@sha1:bbb with a timeout of 5m0s",
			Sync{State: RollingOut, Live: &Revision{"bbb", "s2", 4}, Message: "Running health checks for revision deploy@sha1:bbb with a timeout of 5m0s"}, Drift{}, []string{"svc=Healthy", "web=Healthy"}},
		{"building the next revision: the one applied last stays live", nextRevision(
			`{type: Ready, status: "Unknown", reason: Progressing, message: "Reconciliation in progress"}`,
			`{type: Reconciling, status: "True", reason: Progressing, message: "Building manifests for revision deploy@sha1:bbb with a timeout of 5m0s"}`,
			`{type: Healthy, status: "Unknown", reason: Progressing, message: "Running health checks for revision deploy@sha1:aaa with a timeout of 5m0s"}`),
			Progressing, "Flux: Building manifests for revision deploy@sha1:bbb with a timeout of 5m0s",
			Sync{State: Applying, Live: &Revision{"aaa", "s1", 3}, Attempted: &Revision{"bbb", "s2", 4}, Message: "Reconciliation in progress"}, Drift{}, []string{"svc=Healthy", "web=Healthy"}},
		{"a failed health check: the attempted revision is live, applied, unhealthy", nextRevision(
			`{type: Ready, status: "False", reason: HealthCheckFailed, message: "`+healthFailed+`"}`,
			`{type: Healthy, status: "False", reason: HealthCheckFailed, message: "`+healthFailed+`"}`),
			Degraded, "Flux: failed: HealthCheckFailed: " + healthFailed,
			Sync{State: Failed, Live: &Revision{"bbb", "s2", 4}, Unhealthy: true, Reason: "HealthCheckFailed", Message: "applied, unhealthy: " + healthFailed}, Drift{}, []string{"svc=Healthy", "web=Healthy"}},
		{"drift both ways; unwatched kinds are not compared", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{elsewhere, old, run}, Kustomizations: ks(t, `
status: {lastAppliedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True"}]}`)}
		}, Missing, "Deployment web: in the deploy tree, not in the cluster",
			Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}},
			Drift{
				Missing: []Ref{{Kind: "Service", Namespace: "shop", Name: "web"}, {Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"}},
				Extra:   []Ref{{Kind: "ConfigMap", Namespace: "shop", Name: "old"}, {Group: "apps", Kind: "Deployment", Namespace: "other", Name: "web"}},
			}, []string{"gone=Healthy", "svc=Missing", "web=Missing"}},
		// Flux's inventory names each object exactly: its group tells
		// Knative's Service from the core one, and a cluster-wide plugin
		// object has no namespace; kinds not watched (the Namespace) are
		// not compared.
		{"expected objects from Flux's inventory", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc, issuer},
				Plugins: map[schema.GroupKind]bool{{Group: "serving.knative.dev", Kind: "Service"}: true, {Group: "cert-manager.io", Kind: "ClusterIssuer"}: true},
				Kustomizations: ks(t, `
status:
  lastAppliedRevision: "deploy@sha1:aaa"
  conditions: [{type: Ready, status: "True"}]
  inventory:
    entries:
    - {id: _shop__Namespace, v: v1}
    - {id: shop_web_apps_Deployment, v: v1}
    - {id: shop_web__Service, v: v1}
    - {id: shop_web_serving.knative.dev_Service, v: v1}
    - {id: _letsencrypt_cert-manager.io_ClusterIssuer, v: v1}`)}
		}, Missing, "Service web: in the deploy tree, not in the cluster",
			Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}},
			Drift{Missing: []Ref{{Group: "serving.knative.dev", Kind: "Service", Namespace: "shop", Name: "web"}}},
			[]string{"issuer=Healthy", "knative=Missing", "svc=Healthy", "web=Healthy"}},
		// Flux gave up waiting: what is still progressing will not be
		// ready, as a Deployment past its progress deadline.
		{"after a failed health check what still progresses is degraded", func(t *testing.T) Snapshot {
			snap := nextRevision(`{type: Ready, status: "False", reason: HealthCheckFailed, message: "` + healthFailed + `"}`)(t)
			snap.Objects = []Object{rolling, svc}
			return snap
		}, Degraded, "Deployment web: not ready within the Kustomization's timeout: Available: 0/2",
			Sync{State: Failed, Live: &Revision{"bbb", "s2", 4}, Unhealthy: true, Reason: "HealthCheckFailed", Message: "applied, unhealthy: " + healthFailed}, Drift{}, []string{"svc=Healthy", "web=Degraded"}},
		{"not deployed", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true}
		}, Unknown, "not deployed to cluster prod yet", Sync{State: NotDeployed}, Drift{}, nil},
		{"cluster unreadable", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Error: "connection refused"}
		}, Unknown, "cluster prod cannot be read: connection refused", Sync{State: NotDeployed}, Drift{}, nil},
		{"unreachable after it was read: what was seen stays, the reason says since when", func(t *testing.T) Snapshot {
			return Snapshot{Cluster: "prod", Synced: true, Objects: []Object{web, svc}, Error: "connection refused",
				Since: time.Date(2026, 12, 4, 14, 5, 1, 0, time.UTC), Kustomizations: ks(t, `
status: {lastAppliedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True"}]}`)}
		}, Unknown, "cluster prod unreachable since 2026-12-04T14:05:01Z: connection refused",
			Sync{State: Synced, Live: &Revision{"aaa", "s1", 3}}, Drift{}, []string{"svc=Healthy", "web=Healthy"}},
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
			var nodes []string
			for _, n := range ws.Nodes {
				nodes = append(nodes, n.ID+"="+string(n.Health))
			}
			if !slices.Equal(nodes, tc.nodes) {
				t.Errorf("nodes %v, want %v", nodes, tc.nodes)
			}
		})
	}
}

func TestCommitOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"deploy@sha1:abc": "abc", "deploy/abc": "abc", "abc": "abc", "refs/slipway/sources/deploy/web@sha1:abc": "abc"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if got := CommitOf(in); got != want {
				t.Errorf("CommitOf(%q) = %q, want %q", in, got, want)
			}
		})
	}
}
