package watch

import (
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// TestStrip: what is dropped before caching never changes an object's
// health or conditions, what must not be kept is gone, and what status
// reads (a Kustomization's inventory) is kept.
func TestStrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		gone [][]string
		kept [][]string
	}{
		{"deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2, managedFields: [{manager: kustomize-controller}]}
spec:
  replicas: 2
  template: {spec: {containers: [{name: web, image: nginx}]}}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions: [{type: Available, status: "True"}]`, [][]string{{"spec", "template"}, {"metadata", "managedFields"}}, nil},
		{"statefulset rolling out", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec:
  replicas: 3
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  template: {spec: {containers: [{name: db, image: postgres}]}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 1}`, [][]string{{"spec", "template"}}, nil},
		{"cronjob", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec: {schedule: "0 2 * * *", jobTemplate: {spec: {template: {spec: {containers: [{name: r, image: busybox}]}}}}}
status: {lastScheduleTime: "2026-12-01T02:00:00Z", lastSuccessfulTime: "2026-12-01T02:00:09Z"}`, [][]string{{"spec", "jobTemplate"}}, nil},
		{"flux kustomization", `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, generation: 1}
spec: {interval: 10m, path: ./workflows/web, prune: true}
status:
  observedGeneration: 1
  lastAppliedRevision: deploy@sha1:abc
  inventory: {entries: [{id: web_web_apps_Deployment, v: v1}]}
  conditions: [{type: Ready, status: "True", reason: ReconciliationSucceeded}]`, nil, [][]string{{"status", "inventory", "entries"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := object(t, tc.doc)
			want, wantConds := Compute(u), Conditions(u)
			got, err := strip(u.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			s := got.(*unstructured.Unstructured)
			if r := Compute(s); r != want {
				t.Errorf("health after strip %+v, before %+v", r, want)
			}
			if c := Conditions(s); len(c) != len(wantConds) {
				t.Errorf("conditions after strip %+v, before %+v", c, wantConds)
			}
			for _, path := range tc.gone {
				if _, found, _ := unstructured.NestedFieldNoCopy(s.Object, path...); found {
					t.Errorf("%v is still cached", path)
				}
			}
			for _, path := range tc.kept {
				if _, found, _ := unstructured.NestedFieldNoCopy(s.Object, path...); !found {
					t.Errorf("%v is not cached", path)
				}
			}
		})
	}
}

// TestFluxNamespaces: only the Flux namespaces' Kustomizations and
// GitRepositories are believed. A tenant who may create a Kustomization in
// a namespace of its own, labelled as a workflow's, cannot decide the
// workflow's sync, the cluster's Kustomization or its source: such a
// Kustomization is drift. While the Flux objects move, the old namespace
// counts until the new one holds the workflow's.
func TestFluxNamespaces(t *testing.T) {
	t.Parallel()
	// flux returns a Flux object in namespace ns: a Kustomization of
	// workflow wf (none for the cluster's) at revision aaa, or a
	// GitRepository; ready or failing.
	flux := func(kind, ns, name, wf string, ready bool) *unstructured.Unstructured {
		api, status := "kustomize.toolkit.fluxcd.io/v1", `{lastAppliedRevision: "deploy@sha1:aaa", lastAttemptedRevision: "deploy@sha1:aaa", conditions: [{type: Ready, status: "True", reason: ReconciliationSucceeded}]}`
		if kind == "GitRepository" {
			api = "source.toolkit.fluxcd.io/v1"
		}
		if !ready {
			status = `{lastAppliedRevision: "deploy@sha1:bbb", lastAttemptedRevision: "deploy@sha1:bbb", conditions: [{type: Ready, status: "False", reason: GitOperationFailed, message: spoofed}]}`
		}
		labels := "{app.kubernetes.io/managed-by: slipway}"
		if wf != "" {
			labels = "{app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: " + wf + "}"
		}
		return object(t, `
apiVersion: `+api+`
kind: `+kind+`
metadata: {name: `+name+`, namespace: `+ns+`, uid: `+ns+`-`+name+`, labels: `+labels+`}
spec: {interval: 10m, sourceRef: {kind: GitRepository, name: slipway, namespace: `+ns+`}}
status: `+status)
	}
	r := treeResolver{revisions: map[string]Revision{"aaa": {"aaa", "s1", 3}, "bbb": {"bbb", "s9", 9}}, expected: map[string][]Expected{"aaa": {}, "bbb": {}}}
	tenantK := Ref{Group: Kustomizations.Group, Kind: "Kustomization", Namespace: "tenant", Name: "shop"}
	tests := []struct {
		name       string
		namespaces []string
		ks, repos  []*unstructured.Unstructured
		named      []*unstructured.Unstructured // Kustomizations named slipway-prod
		sync       string
		live       string // the live deploy commit
		from       string // the namespace of the workflow's Kustomization
		cluster    string // the namespace of the cluster Kustomization
		source     string // the namespace of the cluster's source
		extra      []Ref
	}{
		{"a tenant's Kustomization alone is not the workflow's", []string{"slipway"},
			[]*unstructured.Unstructured{flux("Kustomization", "tenant", "shop", "shop", false)},
			[]*unstructured.Unstructured{flux("GitRepository", "tenant", "slipway", "", false)},
			[]*unstructured.Unstructured{flux("Kustomization", "tenant", "slipway-prod", "", false)},
			NotDeployed, "", "", "", "", nil},
		{"a tenant's Kustomization beside the workflow's is drift", []string{"slipway"},
			[]*unstructured.Unstructured{flux("Kustomization", "tenant", "shop", "shop", false), flux("Kustomization", "slipway", "shop", "shop", true)},
			[]*unstructured.Unstructured{flux("GitRepository", "tenant", "slipway", "", false), flux("GitRepository", "slipway", "slipway", "", true)},
			[]*unstructured.Unstructured{flux("Kustomization", "aaa-tenant", "slipway-prod", "", false), flux("Kustomization", "slipway", "slipway-prod", "", true)},
			Synced, "aaa", "slipway", "slipway", "slipway", []Ref{tenantK}},
		{"while moving, the new namespace's Kustomization first", []string{"slipway", "flux-system"},
			[]*unstructured.Unstructured{flux("Kustomization", "flux-system", "shop", "shop", false), flux("Kustomization", "slipway", "shop", "shop", true)},
			[]*unstructured.Unstructured{flux("GitRepository", "flux-system", "slipway", "", false), flux("GitRepository", "slipway", "slipway", "", true)},
			[]*unstructured.Unstructured{flux("Kustomization", "flux-system", "slipway-prod", "", false), flux("Kustomization", "slipway", "slipway-prod", "", true)},
			Synced, "aaa", "slipway", "slipway", "slipway", nil},
		{"while moving, the old namespace's until the new one holds it", []string{"slipway", "flux-system"},
			[]*unstructured.Unstructured{flux("Kustomization", "flux-system", "shop", "shop", true), flux("Kustomization", "tenant", "shop", "shop", false)},
			[]*unstructured.Unstructured{flux("GitRepository", "flux-system", "slipway", "", true)},
			[]*unstructured.Unstructured{flux("Kustomization", "flux-system", "slipway-prod", "", true)},
			Synced, "aaa", "flux-system", "flux-system", "flux-system", []Ref{tenantK}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := func(objs []*unstructured.Unstructured) cache.SharedIndexInformer {
				inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0, cache.Indexers{})
				for _, o := range objs {
					if err := inf.GetStore().Add(o); err != nil {
						t.Fatal(err)
					}
				}
				return inf
			}
			c := &Cluster{name: "prod", fluxNamespaces: tc.namespaces, synced: true, bootstrap: store(tc.named),
				informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{Kustomizations: store(tc.ks), GitRepositories: store(tc.repos)}}
			snap := c.Snapshot()
			ws := StatusOf(t.Context(), snap, "shop", r)
			if ws.Sync.State != tc.sync {
				t.Errorf("sync %s (%s), want %s", ws.Sync.State, ws.Sync.Message, tc.sync)
			}
			live := ""
			if ws.Sync.Live != nil {
				live = ws.Sync.Live.DeployCommit
			}
			if live != tc.live {
				t.Errorf("live %q, want %q", live, tc.live)
			}
			namespace := func(u *unstructured.Unstructured) string {
				if u == nil {
					return ""
				}
				return u.GetNamespace()
			}
			if ns := namespace(snap.Kustomization("shop")); ns != tc.from {
				t.Errorf("the workflow's Kustomization is %q's, want %q's", ns, tc.from)
			}
			if ns := namespace(snap.ClusterKustomization); ns != tc.cluster {
				t.Errorf("the cluster Kustomization is %q's, want %q's", ns, tc.cluster)
			}
			if ns := namespace(snap.ClusterSource()); ns != tc.source {
				t.Errorf("the cluster's source is %q's, want %q's", ns, tc.source)
			}
			for key, src := range snap.GitRepositories {
				if !slices.Contains(tc.namespaces, src.GetNamespace()) {
					t.Errorf("source %s outside the Flux namespaces is read", key)
				}
			}
			if !reflect.DeepEqual(ws.Drift.Extra, tc.extra) {
				t.Errorf("extra %+v, want %+v", ws.Drift.Extra, tc.extra)
			}
		})
	}
}
