package watch

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// healthCheckPrefix begins the message of a Flux Kustomization's Healthy
// condition while kustomize-controller checks the health of a revision it
// has applied ("Running health checks for revision deploy@sha1:… with a
// timeout of 5m0s"), and of its Reconciling condition; no status field
// says it.
const healthCheckPrefix = "Running health checks for revision "

// healthCheck returns the message of k's Healthy condition when Flux has
// applied revision, pruned what it no longer holds and is checking the
// health of what it applied (spec.wait or spec.healthChecks), and "" when
// it is not. kustomize-controller sets lastAppliedRevision only once that
// check passes, which it polls every 5 seconds, so the revision whose
// objects are in the cluster is known a poll or more before Flux calls it
// applied.
func healthCheck(k *unstructured.Unstructured, revision string) string {
	c, ok := condition(k, "Healthy")
	if !ok || revision == "" || c.Status != "Unknown" || c.Reason != "Progressing" ||
		!strings.HasPrefix(c.Message, healthCheckPrefix+revision+" ") {
		return ""
	}
	return c.Message
}
