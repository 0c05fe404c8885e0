package compiler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// WorkflowServiceAccountName is the account kustomize-controller
// impersonates to apply a workflow on a cluster whose file sets
// flux.tenancy. It lives in the namespace of the Flux objects, where Flux
// looks for it; the prefix keeps it apart from Flux's own accounts there
// (kustomize-controller, helm-controller …) and from the cluster
// Kustomization's (ClusterServiceAccountName).
func WorkflowServiceAccountName(workflow string) string { return "slipway-workflow-" + workflow }

// WorkflowSourceRef is the ref of the deploy repository that workflow wf's
// own GitRepository reads when the compiler renders one per workflow
// (Options.WorkflowSources) for deploy branch branch: the deploy commit
// that last changed the workflow's tree (workflows/<wf>/), which the
// branch's head holds as it does. It moves only when that tree changes, so
// Flux reconciles the workflow only then. Branch names cannot clash in git
// (no branch is both a and a/b), so neither can these refs.
func WorkflowSourceRef(branch, wf string) string { return "refs/slipway/sources/" + branch + "/" + wf }

// workflowSource renders workflow wf's own GitRepository, which reads
// WorkflowSourceRef and keeps only the workflow's tree in its artifact.
// It checks out only that tree (sparseCheckout), so that
// source-controller's work per fetch does not grow with the number of
// workflows; the ignore rules, which kept the artifact to that tree
// before, stay, so that the artifact is the same whatever else the
// checkout holds. The repository's URL and credentials are the cluster's:
// its Kustomization adds them (workflowSourcePatches), so that the deploy
// tree names no repository.
func workflowSource(wf *workflow.Workflow, interval time.Duration, labels map[string]string, opts Options) map[string]any {
	return map[string]any{
		"apiVersion": sourceGroup + "/v1",
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": wf.Name, "namespace": opts.SourceRefNamespace, "labels": labels},
		"spec": map[string]any{
			"interval":       interval.String(),
			"ref":            map[string]any{"name": WorkflowSourceRef(opts.WorkflowSources, wf.Name)},
			"sparseCheckout": []any{WorkflowDir(wf.Name)},
			// Everything but workflows/<wf>/: a directory left out cannot
			// have a part taken back in, so workflows/ is taken back first.
			"ignore": "/*\n!/workflows/\n/workflows/*\n!/" + WorkflowDir(wf.Name) + "/\n",
		},
	}
}

// tenantRole is the ClusterRole a workflow's account is bound to in the
// workflow's namespace, and only there: Kubernetes' admin, which may
// manage every namespaced object a workflow renders but not the namespace
// itself, its quotas or anything cluster-wide.
const tenantRole = "admin"

// kustomizationSettings are the settings of a workflow's Flux
// Kustomization, resolved from the workflow, its cluster file and the
// options, in that order.
type kustomizationSettings struct {
	interval, retry, timeout time.Duration
	// timeoutFrom names the setting that gave timeout, for messages.
	timeoutFrom string
	// serviceAccount is the account Flux impersonates; empty for
	// kustomize-controller's default.
	serviceAccount string
	// tenancy: serviceAccount is the workflow's own, rendered with it.
	tenancy bool
	deps    []meta.DependencyReference
	// decryption decrypts the workflow's SOPS-encrypted Secrets.
	decryption *kustomizev1.Decryption
}

// resolveFlux resolves the settings of workflow wf's Kustomization on its
// cluster cl (nil for the implicit default cluster); files are the
// repository's, for its encrypted Secrets. The account comes from the
// cluster file only.
func resolveFlux(wf *workflow.Workflow, cl *workflow.Cluster, opts Options, files source.Files) kustomizationSettings {
	s := kustomizationSettings{interval: opts.Interval, retry: opts.RetryInterval, timeout: opts.Timeout, timeoutFrom: "the compiler's --timeout"}
	deps := map[meta.DependencyReference]bool{}
	for _, d := range wf.DependsOn {
		deps[meta.DependencyReference{Name: d}] = true
	}
	layer := func(f *workflow.FluxSettings, from string) {
		override(&s.interval, f.Interval)
		override(&s.retry, f.RetryInterval)
		if override(&s.timeout, f.Timeout) {
			s.timeoutFrom = from
		}
		for _, d := range f.DependsOn {
			ns := d.Namespace
			if ns == opts.SourceRefNamespace {
				ns = ""
			}
			deps[meta.DependencyReference{Name: d.Name, Namespace: ns}] = true
		}
	}
	if cl != nil && cl.Flux != nil {
		layer(&cl.Flux.FluxSettings, workflow.ClusterFile(cl.Name)+" /flux/timeout")
		s.serviceAccount = cl.Flux.ServiceAccountName
		if cl.Flux.Tenancy {
			s.serviceAccount, s.tenancy = WorkflowServiceAccountName(wf.Name), true
		}
	}
	if wf.Flux != nil {
		layer(wf.Flux, "/flux/timeout")
	}
	s.decryption = sopsDecryption(wf, cl, files)
	s.deps = slices.SortedFunc(maps.Keys(deps), func(a, b meta.DependencyReference) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return s
}

// override sets *d to the duration s when s is set, and reports whether
// it did; s was validated.
func override(d *time.Duration, s string) bool {
	if s == "" {
		return false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return false
	}
	*d = v
	return true
}

// checkJobDeadlines refuses a Job that may run longer than its workflow's
// Kustomization waits: kustomize-controller checks the health of the
// objects it applies and holds a Job healthy only once it has completed,
// so the Kustomization would fail its health check, and report the
// revision failed, while the Job is still allowed to run. A CronJob's
// Jobs are not the Kustomization's (Flux holds a CronJob healthy as soon
// as it exists), so their deadline is free.
func (s kustomizationSettings) checkJobDeadlines(wf *workflow.Workflow) workflow.Errors {
	var errs workflow.Errors
	for i := range wf.Nodes {
		n := &wf.Nodes[i]
		d, ok := n.Spec.(*workflow.JobData)
		if !ok || d.ActiveDeadlineSeconds == nil {
			continue
		}
		deadline := time.Duration(*d.ActiveDeadlineSeconds) * time.Second
		if deadline <= s.timeout {
			continue
		}
		errs = append(errs, &workflow.Error{File: sourceFile(wf), Pointer: fmt.Sprintf("/nodes/%d/data/activeDeadlineSeconds", i), NodeID: n.ID,
			Message: fmt.Sprintf("%s is longer than %s, the timeout of the workflow's Flux Kustomization (%s): Flux's health check would fail before the Job's deadline; raise flux.timeout or lower activeDeadlineSeconds",
				deadline, s.timeout, s.timeoutFrom)})
	}
	return errs
}

// objects renders what applies workflow wf: its Flux Kustomization, which
// applies the workflow's overlay, waits for its objects to be healthy and
// prunes what the workflow no longer has, and, on a cluster with
// tenancy, the account it applies as and that account's RoleBinding.
//
// The account and its binding carry prune: disabled: when the workflow is
// archived, or moves to another namespace, the cluster Kustomization
// deletes or changes the workflow's Kustomization, whose garbage collection
// then runs as the account and needs its rights in the old namespace.
// Pruning them in the same pass would leave the workflow's objects behind
// (Flux skips the collection of a Kustomization whose account is gone) or
// hold its deletion (forbidden). They are deleted by hand, as kept
// namespaces are.
func (s kustomizationSettings) objects(wf *workflow.Workflow, opts Options) []any {
	labels := func() map[string]string {
		return map[string]string{workflow.LabelPartOf: wf.Name, workflow.LabelManagedBy: workflow.ManagedBy}
	}
	k := &kustomizev1.Kustomization{
		TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
		ObjectMeta: metav1.ObjectMeta{Name: wf.Name, Namespace: opts.SourceRefNamespace, Labels: labels()},
		Spec: kustomizev1.KustomizationSpec{
			DependsOn:          s.deps,
			Interval:           metav1.Duration{Duration: s.interval},
			RetryInterval:      &metav1.Duration{Duration: s.retry},
			Timeout:            &metav1.Duration{Duration: s.timeout},
			Path:               "./" + overlayDir(wf.Name, wf.Cluster()),
			Prune:              true,
			Wait:               true,
			TargetNamespace:    wf.TargetNamespace(),
			ServiceAccountName: s.serviceAccount,
			SourceRef:          kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: opts.SourceRefName},
			Ignore:             replicasIgnored(wf.Validated()),
			Decryption:         s.decryption,
		},
	}
	var objs []any
	if opts.WorkflowSources != "" {
		k.Spec.SourceRef.Name = wf.Name
		objs = append(objs, workflowSource(wf, s.interval, labels(), opts))
	}
	objs = append(append(objs, k), opts.released(k)...)
	if !s.tenancy {
		return objs
	}
	kept := func() map[string]string { return map[string]string{AnnotationFluxPrune: PruneDisabled} }
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: s.serviceAccount, Namespace: opts.SourceRefNamespace, Labels: labels(), Annotations: kept()},
	}
	rb := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: s.serviceAccount, Namespace: wf.TargetNamespace(), Labels: labels(), Annotations: kept()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: tenantRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: s.serviceAccount, Namespace: opts.SourceRefNamespace}},
	}
	return append(objs, sa, rb)
}
