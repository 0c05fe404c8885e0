package compiler

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/workflow"
)

// AnnotationFluxPrune set to PruneDisabled keeps Flux from deleting an
// object when it leaves the Kustomization that applied it; Flux reads it on
// the live object.
const (
	AnnotationFluxPrune = "kustomize.toolkit.fluxcd.io/prune"
	PruneDisabled       = "disabled"
)

// LabelPodSecurityEnforce is the Pod Security admission level a namespace
// enforces.
const LabelPodSecurityEnforce = "pod-security.kubernetes.io/enforce"

// namespacesDir holds a cluster's Namespace objects, below its directory.
const namespacesDir = "namespaces"

// namespaceFile is the file of a Namespace, relative to its cluster's
// directory.
//
// Namespaces belong to the cluster: the operator's Kustomization on
// clusters/<cluster> applies them, never a workflow's, so that archiving a
// workflow or moving it to another namespace cannot delete a namespace and
// everything in it (claims, Secrets made by hand). They carry
// prune: disabled, so that Flux keeps them even when no workflow uses them
// any more.
//
// Deploy trees rendered before this had each Namespace in its workflow's
// overlay, in the inventory of the workflow's Kustomization. On the first
// new revision, the cluster Kustomization applies the Namespaces first (Flux
// applies Namespaces before other objects) and takes them over: their Flux
// owner labels then name it, and they gain prune: disabled. Flux's garbage
// collection deletes only objects whose owner labels name the collecting
// Kustomization and that lack prune: disabled, so the workflow's
// Kustomization, reconciling the new tree, skips them. It cannot reconcile
// the new tree before the cluster Kustomization does: until the cluster
// Kustomization applies its new spec, it still points at the old overlay
// path, which the new tree lacks, so it fails without applying or pruning.
func namespaceFile(ns string) string { return path.Join(namespacesDir, ns+".yaml") }

// unrenderedNamespaces exist in every cluster and are never rendered.
var unrenderedNamespaces = map[string]bool{"default": true}

// renderNamespace renders the Namespace of a published workflow on cl (nil
// for the implicit default cluster), or nil for a namespace the cluster
// always has.
func renderNamespace(wf *workflow.Workflow, cl *workflow.Cluster) *corev1.Namespace {
	name := wf.TargetNamespace()
	if unrenderedNamespaces[name] {
		return nil
	}
	ns := &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				workflow.LabelName: name, workflow.LabelPartOf: wf.Name, workflow.LabelManagedBy: workflow.ManagedBy,
			},
			Annotations: map[string]string{AnnotationFluxPrune: PruneDisabled},
		},
	}
	if cl != nil && cl.PodSecurity != "" {
		ns.Labels[LabelPodSecurityEnforce] = cl.PodSecurity
	}
	return ns
}
