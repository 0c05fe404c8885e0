package compiler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	notifyv1 "github.com/fluxcd/notification-controller/api/v1"
	notifyv1beta3 "github.com/fluxcd/notification-controller/api/v1beta3"
	"github.com/fluxcd/pkg/apis/kustomize"
	fluxmeta "github.com/fluxcd/pkg/apis/meta"
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
	// ReceiverSecret, when set, names the Secret (key token) of a
	// notification Receiver for GitHub's push events, which has Flux fetch
	// the deploy branch as soon as it moves; empty for no Receiver.
	ReceiverSecret string
	// AlertURL, when set, is where a notification Provider of type
	// generic-hmac posts Flux's events about the deploy source and the
	// Kustomizations, signed with the key in the Secret AlertSecret (key
	// token).
	AlertURL, AlertSecret string
	// ServiceUser, when set, is the user name of a kubeconfig the webhook
	// service reads the cluster with, other than a token of the account
	// StatusReaderName: it is given the same rights (StatusReaderRules).
	ServiceUser string
	// MoveFrom, when set, is the namespace the Flux objects move from
	// (Options.MoveFrom): the cluster Kustomization is given the rights to
	// release and then prune the workflows' Kustomizations there.
	MoveFrom string
	// Tenancy gives the cluster Kustomization the rights to apply the
	// account of each workflow that a cluster file's flux.tenancy renders:
	// ServiceAccounts in the Flux namespace and RoleBindings to admin.
	Tenancy bool
	// WorkflowSources connects the layout where each workflow reads a
	// GitRepository of its own (Options.WorkflowSources, set to Branch):
	// the cluster Kustomization completes those GitRepositories with URL
	// and SecretRef and may create, change and prune them, and the webhook
	// service may ask any GitRepository in the Flux namespace to fetch.
	WorkflowSources bool
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
	for _, f := range []struct{ name, value string }{
		{"receiver secret", o.ReceiverSecret}, {"alert secret", o.AlertSecret},
	} {
		if f.value == "" {
			continue
		}
		if msgs := content.IsDNS1123Subdomain(f.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %v", f.name, f.value, msgs))
		}
	}
	if o.AlertURL != "" {
		if u, err := url.Parse(o.AlertURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("alert URL %q is not an http or https URL", o.AlertURL))
		}
	}
	if (o.AlertURL == "") != (o.AlertSecret == "") {
		errs = append(errs, errors.New("an alert needs both its URL and its secret"))
	}
	if o.MoveFrom != "" {
		if msgs := content.IsDNS1123Label(o.MoveFrom); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace to move from %q: %v", o.MoveFrom, msgs))
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
// cluster: the namespace of Slipway's Flux objects; the GitRepository opts
// names; a Kustomization on clusters/<cluster> with prune, which applies
// the cluster's Namespaces and its workflows' Kustomizations and deletes
// those of removed workflows; the account that Kustomization applies as,
// with the least rights that needs (see clusterAccount); and, as b asks,
// the webhook service's rights, a Receiver for GitHub's pushes and an
// Alert that posts Flux's events to the service. With the account set,
// the cluster Kustomization works under Flux's multi-tenancy lockdown
// (kustomize-controller's --no-cross-namespace-refs=true and
// --default-service-account=default), where a Kustomization that names no
// account applies as its namespace's default account, which may do
// nothing.
func Bootstrap(b BootstrapOptions, opts Options) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("bootstrap options: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compiler options: %w", err)
	}
	if b.MoveFrom == opts.SourceRefNamespace {
		return nil, fmt.Errorf("bootstrap options: namespace to move from %q is the Flux namespace itself", b.MoveFrom)
	}
	if b.WorkflowSources {
		opts.WorkflowSources = b.Branch
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: opts.SourceRefNamespace, Labels: map[string]string{workflow.LabelManagedBy: workflow.ManagedBy}},
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
			Patches:            workflowSourcePatches(b, opts),
		},
	}
	// The namespace comes first, and the account and its rights before
	// the Kustomization that uses them, so that applied in order they are
	// in place when Flux first reconciles it.
	objs := append([]any{ns, repo}, clusterAccount(b, opts)...)
	objs = append(objs, moveAccess(b, opts)...)
	objs = append(objs, k)
	objs = append(objs, statusReader(opts, b.ServiceUser)...)
	objs = append(objs, notifications(b, opts)...)
	return marshalAll("compiler bootstrap --cluster "+b.Cluster, objs...)
}

// workflowSourcePatches complete, when each workflow reads a GitRepository
// of its own, those GitRepositories with the deploy repository's URL and
// credentials as the cluster Kustomization applies them: the deploy tree
// names the refs they read, not the repository, which is the cluster's
// to know. The cluster directory holds no other GitRepository.
func workflowSourcePatches(b BootstrapOptions, opts Options) []kustomize.Patch {
	if opts.WorkflowSources == "" {
		return nil
	}
	ops := []map[string]any{{"op": "add", "path": "/spec/url", "value": b.URL}}
	if b.SecretRef != "" {
		ops = append(ops, map[string]any{"op": "add", "path": "/spec/secretRef", "value": map[string]any{"name": b.SecretRef}})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return []kustomize.Patch{{Patch: string(patch), Target: &kustomize.Selector{Group: sourceGroup, Kind: "GitRepository"}}}
}

// rbacTypeMeta is the TypeMeta of an RBAC object of kind.
func rbacTypeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
}

// slipwayMeta is the metadata of an object bootstrap renders.
func slipwayMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{workflow.LabelManagedBy: workflow.ManagedBy}}
}

// moveAccess renders, while the Flux objects move from b.MoveFrom, the
// rights the cluster Kustomization needs there: to release the workflows'
// Kustomizations (suspend them, set deletionPolicy Orphan) and, once a
// deploy no longer renders them, to prune them. The Role and RoleBinding
// take the names of the old layout's, so applying them also takes those
// rights from the old cluster Kustomization's account.
func moveAccess(b BootstrapOptions, opts Options) []any {
	if b.MoveFrom == "" {
		return nil
	}
	name := ClusterServiceAccountName(b.Cluster)
	return []any{
		&rbacv1.Role{TypeMeta: rbacTypeMeta("Role"), ObjectMeta: slipwayMeta(name, b.MoveFrom), Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{kustomizev1.GroupVersion.Group}, Resources: []string{"kustomizations"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		}}},
		&rbacv1.RoleBinding{TypeMeta: rbacTypeMeta("RoleBinding"), ObjectMeta: slipwayMeta(name, b.MoveFrom),
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: opts.SourceRefNamespace}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}},
	}
}

// NotificationName is the name of the Receiver, Provider and Alert
// bootstrap renders.
const NotificationName = "slipway"

// notifications renders, as b asks, a Receiver that has Flux fetch the
// deploy branch when GitHub delivers a push event (GitHub is given the
// Receiver's status.webhookPath, and the token in b.ReceiverSecret as the
// webhook's secret), and a Provider of type generic-hmac with an Alert
// that posts Flux's events about the deploy source and every
// Kustomization in the namespace to b.AlertURL.
func notifications(b BootstrapOptions, opts Options) []any {
	var objs []any
	meta := func() metav1.ObjectMeta { return slipwayMeta(NotificationName, opts.SourceRefNamespace) }
	if b.ReceiverSecret != "" {
		objs = append(objs, &notifyv1.Receiver{
			TypeMeta:   metav1.TypeMeta{APIVersion: notifyv1.GroupVersion.String(), Kind: notifyv1.ReceiverKind},
			ObjectMeta: meta(),
			Spec: notifyv1.ReceiverSpec{
				Type:      notifyv1.GitHubReceiver,
				Events:    []string{"push"},
				Resources: []notifyv1.ReceiverResource{{CrossNamespaceObjectReference: notifyv1.CrossNamespaceObjectReference{Kind: "GitRepository", Name: opts.SourceRefName}}},
				SecretRef: &fluxmeta.LocalObjectReference{Name: b.ReceiverSecret},
			},
		})
	}
	if b.AlertURL != "" {
		objs = append(objs,
			&notifyv1beta3.Provider{
				TypeMeta:   metav1.TypeMeta{APIVersion: notifyv1beta3.GroupVersion.String(), Kind: notifyv1beta3.ProviderKind},
				ObjectMeta: meta(),
				Spec: notifyv1beta3.ProviderSpec{
					Type:      notifyv1beta3.GenericHMACProvider,
					Address:   b.AlertURL,
					SecretRef: &fluxmeta.LocalObjectReference{Name: b.AlertSecret},
				},
			},
			&notifyv1beta3.Alert{
				TypeMeta:   metav1.TypeMeta{APIVersion: notifyv1beta3.GroupVersion.String(), Kind: notifyv1beta3.AlertKind},
				ObjectMeta: meta(),
				Spec: notifyv1beta3.AlertSpec{
					ProviderRef:   fluxmeta.LocalObjectReference{Name: NotificationName},
					EventSeverity: "info",
					EventSources: []notifyv1.CrossNamespaceObjectReference{
						{Kind: "GitRepository", Name: opts.SourceRefName},
						{Kind: kustomizev1.KustomizationKind, Name: "*"},
					},
				},
			})
	}
	return objs
}

// clusterAccount renders the account the cluster Kustomization applies
// as, and its rights, which are what applying clusters/<cluster> needs and
// no more:
//
//   - in the Flux namespace (a Role): the workflows' Flux Kustomizations,
//     and with per-workflow sources their GitRepositories, to create,
//     change and, when a workflow goes, delete; with tenancy, the
//     workflows' ServiceAccounts, to create and change.
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
	if opts.WorkflowSources != "" {
		local = append(local, rbacv1.PolicyRule{APIGroups: []string{sourceGroup}, Resources: []string{"gitrepositories"}, Verbs: append(slices.Clone(write), "delete")})
	}
	if b.Tenancy {
		local = append(local, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: write})
		global = append(global,
			rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: write},
			rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{tenantRole}, Verbs: []string{"bind"}},
		)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}
	return []any{
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: slipwayMeta(name, ns)},
		&rbacv1.Role{TypeMeta: rbacTypeMeta("Role"), ObjectMeta: slipwayMeta(name, ns), Rules: local},
		&rbacv1.RoleBinding{TypeMeta: rbacTypeMeta("RoleBinding"), ObjectMeta: slipwayMeta(name, ns), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}},
		&rbacv1.ClusterRole{TypeMeta: rbacTypeMeta("ClusterRole"), ObjectMeta: slipwayMeta(name, ""), Rules: global},
		&rbacv1.ClusterRoleBinding{TypeMeta: rbacTypeMeta("ClusterRoleBinding"), ObjectMeta: slipwayMeta(name, ""), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}},
	}
}
