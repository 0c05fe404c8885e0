package workflow

import "slices"

// Kind is the type of a node.
type Kind string

// Node kinds; kindSpecs describes each.
const (
	KindDeployment            Kind = "deployment"
	KindService               Kind = "service"
	KindIngress               Kind = "ingress"
	KindConfigMap             Kind = "configmap"
	KindSecret                Kind = "secret"
	KindStatefulSet           Kind = "statefulset"
	KindJob                   Kind = "job"
	KindCronJob               Kind = "cronjob"
	KindDaemonSet             Kind = "daemonset"
	KindHPA                   Kind = "hpa"
	KindNetworkPolicy         Kind = "networkpolicy"
	KindPersistentVolumeClaim Kind = "persistentvolumeclaim"
	KindPlugin                Kind = "plugin"
)

// kindSpec describes one node kind: everything the workflow package needs
// to decode, check and link its nodes. Adding a kind is adding its
// constant and its entry of kindSpecs here, its data type (nodes.go) and
// check (validate_kinds.go), its definition in the JSON Schema and its
// renderer in the compiler. TestKindSpecs, the schema's tests and the
// compiler's TestEveryKindHasARenderer fail while one of them is missing.
type kindSpec struct {
	kind Kind
	// newSpec returns empty data of the kind.
	newSpec func() NodeSpec
	// workload says whether nodes of the kind run pods; their data then
	// implements Workload.
	workload bool
	// object is the Kubernetes kind of the object a node renders, or ""
	// when it renders none (secret) or its data names it (plugin).
	object string
	// name is the rule the object name follows; maxName, when set, is
	// its greatest length.
	name    nameRule
	maxName int
	// prepare, when set, rewrites the data of a node as written in the
	// file before it is checked against the kind's type; values is what
	// it takes out (the field values of a plugin).
	prepare func(k checker, ptr, nodeID string, data map[string]any) (rest, values map[string]any)
	// check checks the kind's own data; Meta, and Container for
	// workloads, are checked for every kind.
	check func(nv *nodeValidator, s NodeSpec)
	// link is what an edge from a node of the kind to a node of a kind
	// linkTo accepts means; "" when the kind provides no links.
	link   LinkKind
	linkTo func(*kindSpec) bool
}

// nameRule is a format of Kubernetes object names.
type nameRule int

const (
	// nameDNS1123Label: lower case alphanumerics and '-', at most 63.
	nameDNS1123Label nameRule = iota
	// nameDNS1123Subdomain: labels joined by dots, at most 253.
	nameDNS1123Subdomain
	// nameDNS1035Label: a DNS-1123 label that starts with a letter.
	nameDNS1035Label
)

// kindSpecs lists every node kind, in the order of Kinds.
var kindSpecs = [...]kindSpec{
	{kind: KindDeployment, newSpec: newOf[DeploymentData], workload: true, object: "Deployment",
		check: checkOf((*nodeValidator).deployment)},
	{kind: KindService, newSpec: newOf[ServiceData], object: "Service", name: nameDNS1035Label,
		check: checkOf((*nodeValidator).service),
		link:  LinkSelect, linkTo: kindIn(KindDeployment, KindStatefulSet, KindDaemonSet)},
	{kind: KindIngress, newSpec: newOf[IngressData], object: "Ingress",
		check: checkOf((*nodeValidator).ingress),
		link:  LinkRoute, linkTo: kindIn(KindService)},
	{kind: KindConfigMap, newSpec: newOf[ConfigMapData], object: "ConfigMap", name: nameDNS1123Subdomain,
		check: checkOf((*nodeValidator).configMap),
		link:  LinkMount, linkTo: isWorkload},
	{kind: KindSecret, newSpec: newOf[SecretData], name: nameDNS1123Subdomain,
		prepare: checker.secretData, check: checkOf((*nodeValidator).secret),
		link: LinkMount, linkTo: isWorkload},
	{kind: KindStatefulSet, newSpec: newOf[StatefulSetData], workload: true, object: "StatefulSet",
		check: checkOf((*nodeValidator).statefulSet)},
	{kind: KindJob, newSpec: newOf[JobData], workload: true, object: "Job",
		check: checkOf((*nodeValidator).job)},
	// The Job names a CronJob makes add 11 characters.
	{kind: KindCronJob, newSpec: newOf[CronJobData], workload: true, object: "CronJob", maxName: 52,
		check: checkOf((*nodeValidator).cronJob)},
	{kind: KindDaemonSet, newSpec: newOf[DaemonSetData], workload: true, object: "DaemonSet",
		check: checkOf((*nodeValidator).daemonSet)},
	{kind: KindHPA, newSpec: newOf[HPAData], object: "HorizontalPodAutoscaler",
		check: checkOf((*nodeValidator).hpa),
		link:  LinkScale, linkTo: kindIn(KindDeployment, KindStatefulSet)},
	{kind: KindNetworkPolicy, newSpec: newOf[NetworkPolicyData], object: "NetworkPolicy",
		check: checkOf((*nodeValidator).networkPolicy),
		link:  LinkPolicy, linkTo: isWorkload},
	{kind: KindPersistentVolumeClaim, newSpec: newOf[PersistentVolumeClaimData], object: "PersistentVolumeClaim", name: nameDNS1123Subdomain,
		check: checkOf((*nodeValidator).pvc),
		link:  LinkVolume, linkTo: isWorkload},
	{kind: KindPlugin, newSpec: newOf[PluginData], name: nameDNS1123Subdomain,
		prepare: checker.pluginData, check: checkOf((*nodeValidator).plugin)},
}

// Kinds lists every node kind in a stable order.
var Kinds = kindNames()

func kindNames() []Kind {
	out := make([]Kind, len(kindSpecs))
	for i := range kindSpecs {
		out[i] = kindSpecs[i].kind
	}
	return out
}

// spec returns the description of kind k, or nil for an unknown kind.
func (k Kind) spec() *kindSpec {
	for i := range kindSpecs {
		if kindSpecs[i].kind == k {
			return &kindSpecs[i]
		}
	}
	return nil
}

// IsWorkload reports whether nodes of kind k run pods.
func (k Kind) IsWorkload() bool {
	s := k.spec()
	return s != nil && s.workload
}

// NewSpec returns an empty spec for a node kind, or nil for an unknown kind.
func NewSpec(k Kind) NodeSpec {
	if s := k.spec(); s != nil {
		return s.newSpec()
	}
	return nil
}

// linkKind returns the meaning of an edge from a node of kind from to a
// node of kind to, in the canonical direction only.
func linkKind(from, to Kind) (LinkKind, bool) {
	s, t := from.spec(), to.spec()
	if s == nil || s.link == "" || t == nil {
		return "", false
	}
	return s.link, s.linkTo(t)
}

// newOf returns a constructor of empty data of type T.
func newOf[T any, P interface {
	*T
	NodeSpec
}]() NodeSpec {
	return P(new(T))
}

// checkOf adapts the check of a kind's data type to any NodeSpec.
func checkOf[P NodeSpec](check func(*nodeValidator, P)) func(*nodeValidator, NodeSpec) {
	return func(nv *nodeValidator, s NodeSpec) { check(nv, s.(P)) }
}

// kindIn returns a predicate that accepts the kinds given.
func kindIn(kinds ...Kind) func(*kindSpec) bool {
	return func(s *kindSpec) bool { return slices.Contains(kinds, s.kind) }
}

// isWorkload accepts the workload kinds.
func isWorkload(s *kindSpec) bool { return s.workload }
