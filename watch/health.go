package watch

import (
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/apis/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Health is how an object, node, workflow or cluster is doing.
type Health string

// The health values, from best to worst (see Worse).
const (
	// Healthy: the object is what its spec asks for.
	Healthy Health = "Healthy"
	// Progressing: the object is moving towards its spec.
	Progressing Health = "Progressing"
	// Suspended: Flux is told to apply nothing (spec.suspend); what runs
	// is whatever was applied before. It is also a sync state.
	Suspended Health = "Suspended"
	// Unknown: the object's state cannot be told.
	Unknown Health = "Unknown"
	// NotWatched: no cluster context to watch; never taken for healthy.
	NotWatched Health = "NotWatched"
	// Missing: the deploy tree expects the object and the cluster lacks it.
	Missing Health = "Missing"
	// Degraded: the object failed or does not serve.
	Degraded Health = "Degraded"
)

// rank orders health values; a higher rank is worse.
var rank = map[Health]int{Healthy: 0, Progressing: 1, Suspended: 2, Unknown: 3, NotWatched: 4, Missing: 5, Degraded: 6}

// Worse reports whether h is worse than o.
func (h Health) Worse(o Health) bool { return rank[h] > rank[o] }

// Result is the health of one object with its reason in words.
type Result struct {
	Health Health `json:"health"`
	Reason string `json:"reason,omitempty"`
}

// Condition is one status condition of an object.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Conditions returns the object's status.conditions.
func Conditions(u *unstructured.Unstructured) []Condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := make([]Condition, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, Condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	return out
}

// condition returns the condition of type typ, if the object has one.
func condition(u *unstructured.Unstructured, typ string) (Condition, bool) {
	for _, c := range Conditions(u) {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

// Compute returns an object's health: kstatus's verdict for every kind
// kstatus knows (workloads, Services, PVCs, Jobs, and any custom resource
// by its Ready, Reconciling and Stalled conditions), so that a rollout
// is Progressing until the Deployment's progress deadline passes, never
// Degraded for being unavailable on the way. Own rules only where
// kstatus has none: an HPA's scaling conditions, a suspended Job, and
// Flux's objects (see kustomizationHealth). Compute is pure: the object is
// all it reads.
func Compute(u *unstructured.Unstructured) Result {
	if ts := u.GetDeletionTimestamp(); ts != nil {
		return Result{Progressing, "being deleted"}
	}
	switch u.GroupVersionKind().GroupKind().String() {
	case "HorizontalPodAutoscaler.autoscaling":
		return hpaHealth(u)
	case "Job.batch":
		if s, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); s {
			// kstatus waits for a start that a suspended Job never makes.
			return Result{Healthy, "suspended"}
		}
	case "Kustomization.kustomize.toolkit.fluxcd.io":
		return kustomizationHealth(u)
	case "GitRepository.source.toolkit.fluxcd.io":
		return sourceHealth(u)
	}
	return kstatusHealth(u)
}

// kstatusHealth maps kstatus's verdict onto Health.
func kstatusHealth(u *unstructured.Unstructured) Result {
	res, err := status.Compute(u)
	if err != nil {
		return Result{Unknown, err.Error()}
	}
	switch res.Status {
	case status.CurrentStatus:
		return Result{Healthy, ""}
	case status.InProgressStatus, status.TerminatingStatus:
		return Result{Progressing, res.Message}
	case status.FailedStatus:
		return Result{Degraded, res.Message}
	case status.NotFoundStatus:
		return Result{Missing, res.Message}
	}
	return Result{Unknown, res.Message}
}

// words joins a summary with a condition's reason and message.
func words(summary, reason, message string) string {
	var parts []string
	for _, s := range []string{reason, message} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return summary
	}
	return summary + ": " + strings.Join(parts, ": ")
}

// hpaHealth reads an autoscaler's AbleToScale and ScalingActive
// conditions, which kstatus does not. One that cannot read or set its
// target's scale (AbleToScale=False: no such target) fails. One without
// metrics (ScalingActive=False: a new rollout's pods not yet measured, or
// no metrics server) keeps the replicas it has, which is no failure of
// what runs: it is Healthy, and its reason says it does not scale.
func hpaHealth(u *unstructured.Unstructured) Result {
	able, ok := condition(u, "AbleToScale")
	if !ok {
		return Result{Progressing, "the autoscaler has not reported AbleToScale yet"}
	}
	if able.Status == "False" {
		return Result{Degraded, words("AbleToScale is false", able.Reason, able.Message)}
	}
	if active, ok := condition(u, "ScalingActive"); ok && active.Status == "False" {
		return Result{Healthy, words("not scaling", active.Reason, active.Message)}
	}
	return Result{Healthy, ""}
}

// suspendedResult is the health of a Flux object with spec.suspend set.
var suspendedResult = Result{Suspended, "suspended: Flux applies nothing until it is resumed"}

// kustomizationHealth judges a Flux Kustomization as kstatus does
// (Stalled=True fails, Reconciling=True or an unobserved generation is
// progress, Ready=True is current), but for a Ready condition that is
// False. kstatus calls every such condition progress, as kustomize-
// controller retries them all; yet a revision that does not build, apply,
// prune or pass its health check will not do so on the next try either, so
// those reasons fail. Ready=False for any other reason is a wait that
// Flux ends by itself: a dependency not yet at the source's revision, an
// artifact not yet downloadable, a health check cancelled for a newer
// revision.
func kustomizationHealth(u *unstructured.Unstructured) Result {
	if suspended(u) {
		return suspendedResult
	}
	if c, ok := condition(u, meta.StalledCondition); ok && c.Status == "True" {
		return Result{Degraded, words("stalled", c.Reason, c.Message)}
	}
	c, ok := condition(u, meta.ReadyCondition)
	switch {
	case !ok:
		// kstatus takes an object without conditions for current.
		return Result{Progressing, "not reconciled yet"}
	case c.Status == "False" && terminal(c.Reason):
		return Result{Degraded, words("failed", c.Reason, c.Message)}
	case c.Status == "False":
		return Result{Progressing, waiting(c)}
	}
	return kstatusHealth(u)
}

// terminal reports whether a Kustomization's Ready=False reason is a
// failure of the revision itself, which retrying does not cure.
func terminal(reason string) bool {
	switch reason {
	case meta.BuildFailedReason, meta.ReconciliationFailedReason, meta.HealthCheckFailedReason, meta.PruneFailedReason:
		return true
	}
	return false
}

// waiting says in plain words what a Kustomization whose Ready condition
// is False for a reason that is not terminal waits for, Flux's reason
// after it: "waiting for workflow web (DependencyNotReady)".
func waiting(ready Condition) string {
	w := waitingFor(ready)
	if ready.Reason == "" {
		return w
	}
	return w + " (" + ready.Reason + ")"
}

func waitingFor(ready Condition) string {
	switch ready.Reason {
	case meta.DependencyNotReadyReason:
		if wf := dependency(ready.Message); wf != "" {
			return "waiting for workflow " + wf
		}
		return words("waiting for a dependency", "", ready.Message)
	case meta.ArtifactFailedReason:
		return words("waiting for the source's artifact", "", ready.Message)
	case meta.HealthCheckCanceledReason:
		return words("health check cancelled for a newer revision", "", ready.Message)
	}
	return words("retrying", "", ready.Message)
}

// dependency returns the name of the Kustomization kustomize-controller's
// DependencyNotReady message names ("dependency 'slipway/web' revision
// is not up to date"): a workflow's Kustomization is named after it.
func dependency(message string) string {
	_, rest, ok := strings.Cut(message, "dependency '")
	if !ok {
		return ""
	}
	ref, _, ok := strings.Cut(rest, "'")
	if !ok {
		return ""
	}
	if _, name, ok := strings.Cut(ref, "/"); ok {
		return name
	}
	return ref
}

// suspended reports whether a Flux object has spec.suspend set.
func suspended(u *unstructured.Unstructured) bool {
	s, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend")
	return s
}
