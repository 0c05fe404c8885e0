package compiler

import (
	"errors"
	"fmt"
	"slices"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/workflow"
)

// BootstrapOptions say where Flux finds the deploy branch.
type BootstrapOptions struct {
	// Cluster is the cluster whose directory the Kustomization applies.
	Cluster string
	// URL is the git repository that holds the deploy branch.
	URL string
	// Branch is the deploy branch.
	Branch string
	// SecretRef names a Secret with the credentials for URL; empty for a
	// public repository.
	SecretRef string
	// Interval is how often Flux fetches the branch and applies the
	// cluster directory.
	Interval time.Duration
	// Tenancy gives the cluster Kustomization the rights to apply the
	// account of each workflow that a cluster file's flux.tenancy renders:
	// ServiceAccounts in the Flux namespace and RoleBindings to admin.
	Tenancy bool
}

// Validate reports every invalid option.
func (o BootstrapOptions) Validate() error {
	var errs []error
	if msgs := content.IsDNS1123Label(o.Cluster); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("cluster %q: %v", o.Cluster, msgs))
	}
	if o.URL == "" {
		errs = append(errs, errors.New("the deploy repository's URL is required"))
	}
	if o.Branch == "" {
		errs = append(errs, errors.New("the deploy branch is required"))
	}
	if o.SecretRef != "" {
		if msgs := content.IsDNS1123Subdomain(o.SecretRef); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("secret %q: %v", o.SecretRef, msgs))
		}
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval must be positive, not %s", o.Interval))
	}
	return errors.Join(errs...)
}

// ClusterKustomizationName is the name of the Flux Kustomization that
// applies clusters/<cluster>. Workflow names may not start with slipway-,
// so no generated Kustomization can take it.
func ClusterKustomizationName(cluster string) string { return "slipway-" + cluster }

// ClusterServiceAccountName is the account kustomize-controller
// impersonates to apply clusters/<cluster>, and the name of its roles and
// bindings. It cannot be a workflow's account (WorkflowServiceAccountName).
func ClusterServiceAccountName(cluster string) string { return "slipway-cluster-" + cluster }

// Bootstrap renders what connects Flux to the deploy branch for one
// cluster: the GitRepository opts names; a Kustomization on
// clusters/<cluster> with prune, which applies the cluster's Namespaces and
// its workflows' Kustomizations and deletes those of removed workflows;
// and the account that Kustomization applies as, with the least rights
// that needs (see clusterAccount). With the account set, the cluster
// Kustomization works under Flux's multi-tenancy lockdown
// (kustomize-controller's --no-cross-namespace-refs=true and
// --default-service-account=default), where a Kustomization that names no
// account applies as the Flux namespace's default account, which may do
// nothing.
func Bootstrap(b BootstrapOptions, opts Options) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("bootstrap options: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compiler options: %w", err)
	}
	spec := map[string]any{
		"interval": b.Interval.String(),
		"url":      b.URL,
		"ref":      map[string]any{"branch": b.Branch},
	}
	if b.SecretRef != "" {
		spec["secretRef"] = map[string]any{"name": b.SecretRef}
	}
	repo := map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1",
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": opts.SourceRefName, "namespace": opts.SourceRefNamespace},
		"spec":       spec,
	}
	account := clusterAccount(b, opts)
	k := &kustomizev1.Kustomization{
		TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterKustomizationName(b.Cluster), Namespace: opts.SourceRefNamespace},
		Spec: kustomizev1.KustomizationSpec{
			Interval: metav1.Duration{Duration: b.Interval},
			// A failed apply (the account's bindings not yet effective,
			// rights missing) is tried again soon, not an interval later.
			RetryInterval:      &metav1.Duration{Duration: min(opts.RetryInterval, b.Interval)},
			Path:               "./" + ClusterDir(b.Cluster),
			Prune:              true,
			ServiceAccountName: ClusterServiceAccountName(b.Cluster),
			SourceRef:          kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: opts.SourceRefName},
		},
	}
	// The account and its rights come before the Kustomization that uses
	// them, so that applied in order they are in place when Flux first
	// reconciles it.
	return marshalAll("compiler bootstrap --cluster "+b.Cluster, append(append([]any{repo}, account...), k)...)
}

// clusterAccount renders the account the cluster Kustomization applies
// as, and its rights, which are what applying clusters/<cluster> needs and
// no more:
//
//   - in the Flux namespace (a Role): the workflows' Flux Kustomizations,
//     to create, change and, when a workflow goes, delete; with tenancy,
//     the workflows' ServiceAccounts, to create and change.
//   - cluster-wide (a ClusterRole): Namespaces, to create and change;
//     with tenancy, RoleBindings, to create and change, and the right to
//     bind the ClusterRole admin, and no other, in them (Kubernetes lets a
//     RoleBinding grant only rights its author holds or may bind).
//
// Reading (get, list, watch) goes with each, for server-side apply and
// Flux's wait for the Namespaces it applies. Nothing may be deleted but
// Kustomizations: Namespaces and the workflows' accounts and RoleBindings
// carry prune: disabled, so Flux never deletes them. RoleBindings and
// Namespaces are cluster-wide because workflows' namespaces are not known
// here; the cluster file's allowedNamespaces bounds them at compile time.
// The account may not create ClusterRoleBindings or bind any ClusterRole
// but admin, so it cannot give itself or a workflow cluster-wide rights.
func clusterAccount(b BootstrapOptions, opts Options) []any {
	name, ns := ClusterServiceAccountName(b.Cluster), opts.SourceRefNamespace
	read := []string{"get", "list", "watch"}
	write := append(slices.Clone(read), "create", "update", "patch")
	local := []rbacv1.PolicyRule{{
		APIGroups: []string{kustomizev1.GroupVersion.Group}, Resources: []string{"kustomizations"},
		Verbs: append(slices.Clone(write), "delete"),
	}}
	global := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: write}}
	if b.Tenancy {
		local = append(local, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: write})
		global = append(global,
			rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: write},
			rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{tenantRole}, Verbs: []string{"bind"}},
		)
	}
	meta := func(namespace string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{workflow.LabelManagedBy: workflow.ManagedBy}}
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}
	typeMeta := func(kind string) metav1.TypeMeta {
		return metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
	}
	return []any{
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(ns)},
		&rbacv1.Role{TypeMeta: typeMeta("Role"), ObjectMeta: meta(ns), Rules: local},
		&rbacv1.RoleBinding{TypeMeta: typeMeta("RoleBinding"), ObjectMeta: meta(ns), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}},
		&rbacv1.ClusterRole{TypeMeta: typeMeta("ClusterRole"), ObjectMeta: meta(""), Rules: global},
		&rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("ClusterRoleBinding"), ObjectMeta: meta(""), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}},
	}
}
