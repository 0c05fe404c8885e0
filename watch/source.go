package watch

import (
	"maps"
	"slices"

	"github.com/fluxcd/pkg/apis/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Readiness is how a Flux object that all of a cluster's workflows go
// through is doing: the GitRepository that fetches the deploy branch, or
// the cluster Kustomization that applies the workflows' Kustomizations.
type Readiness struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Result says how the object is doing in plain words: "fetch failed
	// (GitOperationFailed): …".
	Result
	// FluxReason is the reason of the object's Stalled condition when it
	// is stalled, else of its Ready condition.
	FluxReason string `json:"flux_reason,omitempty"`
	// Revision is the source's artifact revision, or the revision the
	// Kustomization applied last.
	Revision string `json:"revision,omitempty"`
}

// ReadinessOf returns the readiness of a GitRepository or Kustomization;
// nil for nil.
func ReadinessOf(u *unstructured.Unstructured) *Readiness {
	if u == nil {
		return nil
	}
	r := &Readiness{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Result: Compute(u)}
	if c, ok := condition(u, meta.StalledCondition); ok && c.Status == "True" {
		r.FluxReason = c.Reason
	} else if c, ok := condition(u, meta.ReadyCondition); ok {
		r.FluxReason = c.Reason
	}
	if u.GetKind() == "GitRepository" {
		r.Revision, _, _ = unstructured.NestedString(u.Object, "status", "artifact", "revision")
	} else {
		r.Revision, _, _ = unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
	}
	return r
}

// Named returns the readiness as a part of a rollup: its result, with a
// reason that names the object ("source slipway/slipway: fetch
// failed …").
func (r *Readiness) Named() Result {
	what := "Kustomization "
	if r.Kind == "GitRepository" {
		what = "source "
	}
	return Result{r.Health, what + r.Namespace + "/" + r.Name + ": " + r.Reason}
}

// Stops reports whether the object keeps new deploy commits from the
// cluster: it fails or is suspended. One that reconciles, as it does
// every interval, is no news.
func (r *Readiness) Stops() bool {
	return r != nil && (r.Health == Degraded || r.Health == Suspended)
}

// SourceOf returns the GitRepository a Kustomization's spec.sourceRef
// names, nil when it names another kind or one the cluster lacks.
func (s Snapshot) SourceOf(k *unstructured.Unstructured) *unstructured.Unstructured {
	if k == nil {
		return nil
	}
	ref, _, _ := unstructured.NestedStringMap(k.Object, "spec", "sourceRef")
	if ref["kind"] != "GitRepository" {
		return nil
	}
	ns := ref["namespace"]
	if ns == "" {
		ns = k.GetNamespace()
	}
	return s.GitRepositories[ns+"/"+ref["name"]]
}

// ClusterSource returns the GitRepository the cluster's deploy comes
// from: the cluster Kustomization's source, or, without one, the source of
// the first workflow by name.
func (s Snapshot) ClusterSource() *unstructured.Unstructured {
	if s.ClusterKustomization != nil {
		return s.SourceOf(s.ClusterKustomization)
	}
	for _, wf := range slices.Sorted(maps.Keys(s.Kustomizations)) {
		if src := s.SourceOf(s.Kustomizations[wf]); src != nil {
			return src
		}
	}
	return nil
}

// sourceHealth reads a GitRepository's Stalled and Ready conditions: a
// stalled source or one whose Ready condition is False fails, in plain
// words; Unknown is a reconciliation under way.
func sourceHealth(u *unstructured.Unstructured) Result {
	if suspended(u) {
		return suspendedResult
	}
	if c, ok := condition(u, meta.StalledCondition); ok && c.Status == "True" {
		return Result{Degraded, sourceWords(c)}
	}
	c, ok := condition(u, meta.ReadyCondition)
	switch {
	case !ok:
		return Result{Progressing, "not reconciled yet"}
	case c.Status == "True":
		return Result{Healthy, ""}
	case c.Status == "False":
		return Result{Degraded, sourceWords(c)}
	}
	return Result{Progressing, words("reconciling", c.Reason, c.Message)}
}

// sourceWords says what a failing source condition means, Flux's reason
// after it: "fetch failed (GitOperationFailed): …". The reasons are
// source-controller's.
func sourceWords(c Condition) string {
	summary := "not ready"
	switch c.Reason {
	case "GitOperationFailed":
		summary = "fetch failed"
	case "AuthenticationFailed":
		summary = "authentication failed"
	case "URLInvalid":
		summary = "invalid URL"
	case "StorageOperationFailed", "ArchiveOperationFailed", "StatOperationFailed", "ReadOperationFailed",
		"DirectoryCreationFailed", "AcquireLockFailed", "SymlinkUpdateFailed":
		summary = "artifact not stored"
	}
	if c.Reason != "" {
		summary += " (" + c.Reason + ")"
	}
	return words(summary, "", c.Message)
}
