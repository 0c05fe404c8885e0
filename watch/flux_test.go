package watch

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// headResolver is a treeResolver whose deploy branch head holds another
// tree than some commits.
type headResolver struct {
	treeResolver
	behind map[string]string // deploy commit → the head, when its tree differs
}

func (r headResolver) Ahead(_ context.Context, commit, _ string) (string, error) {
	return r.behind[commit], nil
}

// kustomization is a Flux Kustomization of workflow jobs as
// kustomize-controller leaves it: its spec with extra fields, its status
// with applied and attempted revisions and conditions (one a line).
func kustomization(t *testing.T, spec, applied, attempted string, conditions ...string) Snapshot {
	t.Helper()
	doc := `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: jobs
  namespace: slipway
  generation: 2
  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: jobs}
spec:
  interval: 10m
  path: ./workflows/jobs/default
  prune: true
  wait: true
  timeout: 5m
  targetNamespace: jobs
  dependsOn: [{name: web}]
  sourceRef: {kind: GitRepository, name: slipway}
` + spec + `
status:
  observedGeneration: 2
  lastAppliedRevision: "` + applied + `"
  lastAttemptedRevision: "` + attempted + `"
  inventory: {entries: [{id: jobs_migrate_batch_Job, v: v1}]}
  conditions:
  - ` + strings.Join(conditions, "\n  - ")
	migrate := Object{Kind: "Job", Group: "batch", Namespace: "jobs", Name: "migrate", Workflow: "jobs", Node: "migrate", Result: Result{Healthy, "succeeded"}}
	return Snapshot{Cluster: "default", Synced: true, Objects: []Object{migrate}, Kustomizations: map[string]*unstructured.Unstructured{"jobs": object(t, doc)}}
}

// TestFluxStates: each state kustomize-controller leaves a Kustomization
// in reads as Flux means it: a wait it ends by itself is never a failure,
// only Stalled and the failures of the revision itself are, and a
// suspended or out-of-date Kustomization is never Synced.
func TestFluxStates(t *testing.T) {
	t.Parallel()
	const (
		aaa     = "deploy@sha1:aaa"
		bbb     = "deploy@sha1:bbb"
		ready   = `{type: Ready, status: "True", reason: ReconciliationSucceeded, message: "Applied revision: deploy@sha1:aaa", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`
		healthy = `{type: Healthy, status: "True", reason: Succeeded, message: "Health check passed in 2.01s", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`
		retry   = `{type: Reconciling, status: "True", reason: ProgressingWithRetry, message: "Building manifests for revision deploy@sha1:bbb with a timeout of 5m0s", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`
	)
	live := &Revision{"aaa", "s1", 3}
	next := &Revision{"bbb", "s2", 4}
	r := headResolver{
		treeResolver: treeResolver{revisions: map[string]Revision{"aaa": *live, "bbb": *next}},
		behind:       map[string]string{"aaa": "bbb"},
	}
	same := treeResolver{revisions: r.revisions}
	// A workflow with a GitRepository of its own (compiler.Options.
	// WorkflowSources) reads its ref, which stays on the deploy commit
	// that last changed its tree while the deploy head moves on.
	const (
		ownAAA   = "refs/slipway/sources/deploy/jobs@sha1:aaa"
		ownBBB   = "refs/slipway/sources/deploy/jobs@sha1:bbb"
		ownReady = `{type: Ready, status: "True", reason: ReconciliationSucceeded, message: "Applied revision: ` + ownAAA + `", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`
	)
	kept := headResolver{treeResolver: r.treeResolver, behind: map[string]string{}}
	tests := []struct {
		name   string
		snap   Snapshot
		r      Resolver
		health Result
		sync   Sync
	}{
		{"ready: synced and healthy", kustomization(t, "", aaa, aaa, ready, healthy), same,
			Result{Healthy, ""}, Sync{State: Synced, Live: live}},
		{"a dependency not at the source's revision yet: waiting for its workflow", kustomization(t, "", aaa, aaa,
			`{type: Ready, status: "False", reason: DependencyNotReady, message: "dependency 'slipway/web' revision is not up to date", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`, healthy), same,
			Result{Progressing, "Flux: waiting for workflow web (DependencyNotReady)"},
			Sync{State: Waiting, Live: live, Reason: "DependencyNotReady", Message: "waiting for workflow web (DependencyNotReady)"}},
		{"a dependency not ready", kustomization(t, "", aaa, aaa,
			`{type: Ready, status: "False", reason: DependencyNotReady, message: "dependency 'slipway/web' is not ready", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), same,
			Result{Progressing, "Flux: waiting for workflow web (DependencyNotReady)"},
			Sync{State: Waiting, Live: live, Reason: "DependencyNotReady", Message: "waiting for workflow web (DependencyNotReady)"}},
		{"the source's artifact not there yet", kustomization(t, "", aaa, aaa,
			`{type: Ready, status: "False", reason: ArtifactFailed, message: "Source artifact not found, retrying in 30s", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), same,
			Result{Progressing, "Flux: waiting for the source's artifact: Source artifact not found, retrying in 30s (ArtifactFailed)"},
			Sync{State: Waiting, Live: live, Reason: "ArtifactFailed", Message: "waiting for the source's artifact: Source artifact not found, retrying in 30s (ArtifactFailed)"}},
		{"a health check cancelled for a newer revision", kustomization(t, "", aaa, bbb,
			`{type: Ready, status: "False", reason: HealthCheckCanceled, message: "New revision detected during health check, cancelling", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), same,
			Result{Progressing, "Flux: health check cancelled for a newer revision: New revision detected during health check, cancelling (HealthCheckCanceled)"},
			Sync{State: Waiting, Live: live, Attempted: next, Reason: "HealthCheckCanceled", Message: "health check cancelled for a newer revision: New revision detected during health check, cancelling (HealthCheckCanceled)"}},
		{"a build that fails, retried: failed", kustomization(t, "", aaa, bbb,
			`{type: Ready, status: "False", reason: BuildFailed, message: "kustomize build failed: accumulating resources", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`, retry), same,
			Result{Degraded, "Flux: failed: BuildFailed: kustomize build failed: accumulating resources"},
			Sync{State: Failed, Live: live, Attempted: next, Reason: "BuildFailed", Message: "kustomize build failed: accumulating resources"}},
		{"a prune that fails", kustomization(t, "", aaa, bbb,
			`{type: Ready, status: "False", reason: PruneFailed, message: "failed to delete ConfigMap/jobs/old", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`, retry), same,
			Result{Degraded, "Flux: failed: PruneFailed: failed to delete ConfigMap/jobs/old"},
			Sync{State: Failed, Live: live, Attempted: next, Reason: "PruneFailed", Message: "failed to delete ConfigMap/jobs/old"}},
		{"stalled: failed with the stalled reason", kustomization(t, "", aaa, aaa,
			`{type: Ready, status: "False", reason: InvalidCELExpression, message: "Reconciliation failed terminally due to configuration error: bad expression", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`,
			`{type: Stalled, status: "True", reason: InvalidCELExpression, message: "Reconciliation failed terminally due to configuration error: bad expression", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), same,
			Result{Degraded, "Flux: stalled: InvalidCELExpression: Reconciliation failed terminally due to configuration error: bad expression"},
			Sync{State: Failed, Live: live, Reason: "InvalidCELExpression", Message: "Reconciliation failed terminally due to configuration error: bad expression"}},
		{"a spec change not observed yet: progressing, as kstatus says", newGeneration(kustomization(t, "", aaa, aaa, ready)), same,
			Result{Progressing, "Flux: Kustomization generation is 3, but latest observed generation is 2"}, Sync{State: Applying, Live: live, Message: "Applied revision: deploy@sha1:aaa"}},
		{"suspended: never synced, never healthy", kustomization(t, "  suspend: true", aaa, aaa, ready, healthy), same,
			Result{Suspended, "Flux: suspended: Flux applies nothing until it is resumed"},
			Sync{State: string(Suspended), Live: live, Suspended: true, Message: "suspended: Flux applies nothing until it is resumed"}},
		{"ready on a revision whose tree the deploy head changes: out of sync, naming the head", kustomization(t, "", aaa, aaa, ready, healthy), r,
			Result{Healthy, ""},
			Sync{State: OutOfSync, Live: live, Head: next, Message: "deploy commit bbb changes this workflow and is not applied"}},
		{"suspended with a new head: out of sync and suspended", kustomization(t, "  suspend: true", aaa, aaa, ready, healthy), r,
			Result{Suspended, "Flux: suspended: Flux applies nothing until it is resumed"},
			Sync{State: OutOfSync, Live: live, Head: next, Suspended: true, Message: "deploy commit bbb changes this workflow and is not applied: suspended: Flux applies nothing until it is resumed"}},
		{"a health check that failed: the attempted revision is live, applied, unhealthy", kustomization(t, "", aaa, bbb,
			`{type: Ready, status: "False", reason: HealthCheckFailed, message: "health check failed after 30s: timeout waiting for: [Deployment/jobs/api status: 'InProgress']", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`,
			`{type: Healthy, status: "False", reason: HealthCheckFailed, message: "health check failed", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), same,
			Result{Degraded, "Flux: failed: HealthCheckFailed: health check failed after 30s: timeout waiting for: [Deployment/jobs/api status: 'InProgress']"},
			Sync{State: Failed, Live: next, Unhealthy: true, Reason: "HealthCheckFailed", Message: "applied, unhealthy: health check failed after 30s: timeout waiting for: [Deployment/jobs/api status: 'InProgress']"}},
		{"ready, its source failing to fetch: failed with the source's words", withSource(t, kustomization(t, "", aaa, aaa, ready, healthy), sourceFetchFailed), same,
			Result{Degraded, "source slipway/slipway: fetch failed (GitOperationFailed): failed to checkout and determine revision: connection refused"},
			Sync{State: Failed, Live: live, Reason: "GitOperationFailed", Message: "source slipway/slipway: fetch failed (GitOperationFailed): failed to checkout and determine revision: connection refused"}},
		{"a new head its source fails to fetch: out of sync, saying why", withSource(t, kustomization(t, "", aaa, aaa, ready, healthy), sourceFetchFailed), r,
			Result{Degraded, "source slipway/slipway: fetch failed (GitOperationFailed): failed to checkout and determine revision: connection refused"},
			Sync{State: OutOfSync, Live: live, Head: next, Reason: "GitOperationFailed", Message: "deploy commit bbb changes this workflow and is not applied; source slipway/slipway: fetch failed (GitOperationFailed): failed to checkout and determine revision: connection refused"}},
		{"ready, its source ready: synced", withSource(t, kustomization(t, "", aaa, aaa, ready, healthy), sourceReady), same,
			Result{Healthy, ""}, Sync{State: Synced, Live: live}},
		{"waiting on a dependency with a new head: Flux is on it, still waiting", kustomization(t, "", aaa, aaa,
			`{type: Ready, status: "False", reason: DependencyNotReady, message: "dependency 'slipway/web' revision is not up to date", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), r,
			Result{Progressing, "Flux: waiting for workflow web (DependencyNotReady)"},
			Sync{State: Waiting, Live: live, Reason: "DependencyNotReady", Message: "waiting for workflow web (DependencyNotReady)"}},
		{"its own source on an older deploy commit whose tree the head keeps: synced", kustomization(t, "", ownAAA, ownAAA, ready, healthy), kept,
			Result{Healthy, ""}, Sync{State: Synced, Live: live}},
		{"its own source on a deploy commit whose tree the head changes: out of sync, naming the head", kustomization(t, "", ownAAA, ownAAA, ownReady, healthy), r,
			Result{Healthy, ""},
			Sync{State: OutOfSync, Live: live, Head: next, Message: "deploy commit bbb changes this workflow and is not applied"}},
		{"its own source moved, its health being checked: rolling out the new revision", kustomization(t, "", ownAAA, ownBBB, ownReady,
			`{type: Healthy, status: "Unknown", reason: Progressing, message: "Running health checks for revision `+ownBBB+` with a timeout of 5m0s", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`), r,
			Result{Healthy, ""},
			Sync{State: RollingOut, Live: next, Message: "Running health checks for revision " + ownBBB + " with a timeout of 5m0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := StatusOf(t.Context(), tc.snap, "jobs", tc.r)
			if ws.Result != tc.health {
				t.Errorf("health %+v, want %+v", ws.Result, tc.health)
			}
			if !reflect.DeepEqual(ws.Sync, tc.sync) {
				t.Errorf("sync\n%s\nwant\n%s", mustJSON(t, ws.Sync), mustJSON(t, tc.sync))
			}
		})
	}
}

// GitRepository conditions as source-controller leaves them.
const (
	sourceReady       = `{type: Ready, status: "True", reason: Succeeded, message: "stored artifact for revision 'deploy@sha1:aaa'"}`
	sourceFetchFailed = `{type: Ready, status: "False", reason: GitOperationFailed, message: "failed to checkout and determine revision: connection refused"}`
)

// withSource is snap with the GitRepository its Kustomization names, in
// the state its Ready condition says.
func withSource(t *testing.T, snap Snapshot, ready string) Snapshot {
	t.Helper()
	src := object(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: slipway, namespace: slipway, generation: 1}
spec: {interval: 10m, url: "http://127.0.0.1:9/deploy.git", ref: {branch: deploy}}
status:
  observedGeneration: 1
  artifact: {revision: "deploy@sha1:aaa"}
  conditions:
  - `+ready)
	snap.GitRepositories = map[string]*unstructured.Unstructured{"slipway/slipway": src}
	return snap
}

// TestUnhealthyDrift: after a failed health check, drift is computed
// against the revision Flux applied, not the one before it, so the
// objects Flux just applied are not Extra.
func TestUnhealthyDrift(t *testing.T) {
	t.Parallel()
	snap := kustomization(t, "", "deploy@sha1:aaa", "deploy@sha1:bbb",
		`{type: Ready, status: "False", reason: HealthCheckFailed, message: "health check failed", lastTransitionTime: "2026-12-01T10:00:00Z", observedGeneration: 2}`)
	r := treeResolver{
		revisions: map[string]Revision{"aaa": {"aaa", "s1", 1}, "bbb": {"bbb", "s2", 2}},
		expected: map[string][]Expected{
			"aaa": {{Ref: Ref{Group: "batch", Kind: "Job", Name: "old"}, Node: "old"}},
			"bbb": {{Ref: Ref{Group: "batch", Kind: "Job", Name: "migrate"}, Node: "migrate"}},
		},
	}
	ws := StatusOf(t.Context(), snap, "jobs", r)
	if !ws.Drift.Empty() {
		t.Errorf("drift %+v, want none", ws.Drift)
	}
	if ws.Sync.Live == nil || ws.Sync.Live.DeployCommit != "bbb" || !ws.Sync.Unhealthy {
		t.Errorf("live %+v, unhealthy %t; want bbb, applied, unhealthy", ws.Sync.Live, ws.Sync.Unhealthy)
	}
}

// TestClusterSource: a cluster's source is the one its cluster
// Kustomization names, and its readiness says why it fails in plain
// words.
func TestClusterSource(t *testing.T) {
	t.Parallel()
	snap := withSource(t, kustomization(t, "", "deploy@sha1:aaa", "deploy@sha1:aaa"), sourceFetchFailed)
	// Without a cluster Kustomization, a workflow's source is the cluster's.
	if got := snap.ClusterSource(); got == nil || got.GetName() != "slipway" {
		t.Fatalf("cluster source %v, want slipway", got)
	}
	snap.ClusterKustomization = object(t, `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: slipway-default, namespace: slipway}
spec: {interval: 10m, path: ./clusters/default, prune: true, sourceRef: {kind: GitRepository, name: other}}
status:
  lastAppliedRevision: "deploy@sha1:aaa"
  conditions:
  - {type: Ready, status: "False", reason: ArtifactFailed, message: "Source artifact not found, retrying in 30s"}
`)
	if got := snap.ClusterSource(); got != nil {
		t.Errorf("cluster source %v, want none: the cluster Kustomization names one the cluster lacks", got.GetName())
	}
	k := ReadinessOf(snap.ClusterKustomization)
	want := &Readiness{Kind: "Kustomization", Namespace: "slipway", Name: "slipway-default", FluxReason: "ArtifactFailed", Revision: "deploy@sha1:aaa",
		Result: Result{Progressing, "waiting for the source's artifact: Source artifact not found, retrying in 30s (ArtifactFailed)"}}
	if !reflect.DeepEqual(k, want) || k.Stops() {
		t.Errorf("cluster Kustomization %+v (stops %t), want %+v", k, k.Stops(), want)
	}
	src := ReadinessOf(snap.GitRepositories["slipway/slipway"])
	if src.Named().Reason != "source slipway/slipway: fetch failed (GitOperationFailed): failed to checkout and determine revision: connection refused" || !src.Stops() {
		t.Errorf("source %+v", src)
	}
}

// newGeneration is snap with its Kustomization's spec changed since Flux
// last reconciled it.
func newGeneration(snap Snapshot) Snapshot {
	snap.Kustomizations["jobs"].SetGeneration(3)
	return snap
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployHead: a workflow is ahead at the deploy branch head exactly
// when its tree there differs from the one at the live commit, whatever
// other workflows the commits in between changed.
func TestDeployHead(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	first := gittest.Commit(t, dir, "Deploy web and jobs", map[string][]byte{
		"workflows/web/base/configmap-web.yaml":   []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: '1'}\n"),
		"workflows/jobs/base/configmap-jobs.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: jobs}\n"),
		"clusters/default/web.yaml":               []byte("kind: Kustomization\n"),
	})
	webOnly := gittest.Commit(t, dir, "Change web", map[string][]byte{
		"workflows/web/base/configmap-web.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: '2'}\n"),
	})
	repo, err := gitrepo.Open(t.Context(), dir, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := WithDeployHead(nil, repo, "main")
	ahead := func(commit, wf, want string) {
		t.Helper()
		got, err := d.Ahead(t.Context(), commit, wf)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Ahead(%s, %s) = %q, want %q", gitrepo.ShortID(commit), wf, got, want)
		}
	}
	ahead(first, "web", webOnly)
	ahead(first, "jobs", "")
	ahead(first, "gone", "")
	ahead(webOnly, "web", "")
	jobs := gittest.Commit(t, dir, "Change jobs", map[string][]byte{
		"workflows/jobs/base/configmap-jobs.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: jobs}\ndata: {b: '1'}\n"),
	})
	ahead(first, "jobs", jobs)
	ahead(webOnly, "web", "")
	ahead(jobs, "jobs", "")
	if _, err := d.Ahead(t.Context(), strings.Repeat("0", 39)+"1", "web"); err == nil {
		t.Error("a deploy commit the repository lacks is not an error")
	}
}
