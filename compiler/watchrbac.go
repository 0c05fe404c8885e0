package compiler

import (
	"fmt"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/workflow"
)

// sourceGroup is the API group of Flux's GitRepositories.
const sourceGroup = "source.toolkit.fluxcd.io"

// StatusReaderName names the account the webhook service watches a
// cluster as, its ClusterRole and the binding between them.
const StatusReaderName = "slipway-status-reader"

// StatusReaderRules are the rights the webhook service's status watches
// need in a cluster and no more: to read (get, list, watch) the kinds the
// compiler renders, except Secrets, whose values status never reads;
// Flux's Kustomizations and GitRepositories; EndpointSlices, for a
// Service's ready endpoints; and Events, for warnings. Beyond reading, it
// may only patch the GitRepository named sourceRef (in any namespace) to
// ask Flux to fetch a new deploy commit. Discovery and /readyz, which the
// watches read too, every authenticated account may read.
func StatusReaderRules(sourceRef string) []rbacv1.PolicyRule {
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "events", "persistentvolumeclaims", "services"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets", "deployments", "statefulsets"}, Verbs: read},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: read},
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs", "jobs"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: read},
		{APIGroups: []string{kustomizev1.GroupVersion.Group}, Resources: []string{"kustomizations"}, Verbs: read},
		{APIGroups: []string{sourceGroup}, Resources: []string{"gitrepositories"}, Verbs: read},
		{APIGroups: []string{sourceGroup}, Resources: []string{"gitrepositories"}, ResourceNames: []string{sourceRef}, Verbs: []string{"patch"}},
	}
}

// StatusReader renders the account the webhook service reads a cluster
// as: a ServiceAccount in the Flux namespace, bound cluster-wide to a
// ClusterRole of StatusReaderRules, and, when each workflow reads a
// GitRepository of its own (Options.WorkflowSources), bound to a Role
// that may patch the GitRepositories in the Flux namespace. A kubeconfig for HOOKS_KUBECONFIG
// takes a token of that account (kubectl create token). Bootstrap prints
// it too.
func StatusReader(opts Options) ([]byte, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compiler options: %w", err)
	}
	return marshalAll("compiler bootstrap", statusReader(opts, "")...)
}

// statusReader renders StatusReader's objects; user, when set, is bound to
// the roles beside the account.
func statusReader(opts Options, user string) []any {
	meta := func(namespace string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: StatusReaderName, Namespace: namespace, Labels: map[string]string{workflow.LabelManagedBy: workflow.ManagedBy}}
	}
	ns := opts.SourceRefNamespace
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: StatusReaderName, Namespace: ns}}
	if user != "" {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user})
	}
	objs := []any{
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(ns)},
		&rbacv1.ClusterRole{TypeMeta: rbacTypeMeta("ClusterRole"), ObjectMeta: meta(""), Rules: StatusReaderRules(opts.SourceRefName)},
		&rbacv1.ClusterRoleBinding{TypeMeta: rbacTypeMeta("ClusterRoleBinding"), ObjectMeta: meta(""),
			Subjects: subjects,
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: StatusReaderName}},
	}
	if opts.WorkflowSources == "" {
		return objs
	}
	// Each workflow's own GitRepository is asked to fetch when its ref
	// moves; their names come and go with the workflows, so the right
	// covers the Flux namespace's GitRepositories, and no others.
	return append(objs,
		&rbacv1.Role{TypeMeta: rbacTypeMeta("Role"), ObjectMeta: meta(ns), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{sourceGroup}, Resources: []string{"gitrepositories"}, Verbs: []string{"patch"}},
		}},
		&rbacv1.RoleBinding{TypeMeta: rbacTypeMeta("RoleBinding"), ObjectMeta: meta(ns), Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: StatusReaderName}},
	)
}
