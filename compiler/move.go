package compiler

import (
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
)

// released returns, while the Flux objects move (Options.MoveFrom), the
// workflow's Kustomization k as it is in the namespace it moves from,
// released: suspended, so that it no longer applies, and with
// deletionPolicy Orphan, so that its deletion deletes nothing it applied.
// Beside it, k in the new namespace applies the same objects and takes
// them over (server-side apply, the same field manager) without deleting
// or re-creating one. A deploy without MoveFrom no longer renders it, and
// the cluster Kustomization prunes it: kustomize-controller's finalizer
// collects no garbage for a suspended or orphaning Kustomization, and its
// garbage collection deletes only objects that carry its own name and
// namespace, which k's apply has replaced.
func (o Options) released(k *kustomizev1.Kustomization) []any {
	if o.MoveFrom == "" {
		return nil
	}
	old := k.DeepCopy()
	old.Namespace = o.MoveFrom
	old.Spec.Suspend = true
	old.Spec.DeletionPolicy = kustomizev1.DeletionPolicyOrphan
	return []any{old}
}
