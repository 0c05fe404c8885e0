package compiler

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/workflow"
)

// AnnotationFluxSSA says how Flux applies an object; IfNotPresent creates
// it when it is missing and otherwise leaves it as it is.
const AnnotationFluxSSA = "kustomize.toolkit.fluxcd.io/ssa"

// adopt fits the objects a node rendered to the live objects the cluster
// cl adopts (Cluster.Adopt). A workload's selector cannot change in place:
// a Deployment, StatefulSet or DaemonSet selects its pods by the adopted
// labels, which its pod template adds to Slipway's own; a Service that
// selects a workload's pods does so by the adopted labels too, so that it
// keeps the old pods while they are replaced. Other objects select by
// Slipway's labels, which the new pods carry. A Job's pod template cannot
// change either, and one that ran must not run again: Flux creates a Job
// that is missing and leaves one that exists as it is, instead of
// recreating it. Without adoption nothing changes.
func adopt(wf *workflow.Workflow, cl *workflow.Cluster, objs []object) {
	if cl == nil || cl.Adopt == "" {
		return
	}
	for _, o := range objs {
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			v.Spec.Selector = adoptWorkload(wf, cl.Adopt, v.Name, &v.Spec.Template)
		case *appsv1.StatefulSet:
			v.Spec.Selector = adoptWorkload(wf, cl.Adopt, v.Name, &v.Spec.Template)
		case *appsv1.DaemonSet:
			v.Spec.Selector = adoptWorkload(wf, cl.Adopt, v.Name, &v.Spec.Template)
		case *batchv1.Job:
			delete(v.Annotations, AnnotationFluxForce)
			v.Annotations[AnnotationFluxSSA] = "IfNotPresent"
		case *corev1.Service:
			name := v.Spec.Selector[workflow.LabelName]
			if name != "" && maps.Equal(v.Spec.Selector, workflow.SelectorLabels(wf.Name, name)) {
				v.Spec.Selector = workflow.AdoptedSelectorLabels(cl.Adopt, wf.Name, name)
			}
		}
	}
}

// adoptWorkload adds the adopted selector labels of workload name to its
// pod template and returns its selector.
func adoptWorkload(wf *workflow.Workflow, adopt, name string, tmpl *corev1.PodTemplateSpec) *metav1.LabelSelector {
	sel := workflow.AdoptedSelectorLabels(adopt, wf.Name, name)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	maps.Copy(tmpl.Labels, sel)
	return &metav1.LabelSelector{MatchLabels: sel}
}
