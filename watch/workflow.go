package watch

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/slipway-gitops/slipway/gitrepo"
)

// Revision names a deploy: the deploy commit Flux applied, the source
// commit its Source-Commit trailer names and the workflow's version there.
type Revision struct {
	DeployCommit string `json:"deploy_commit"`
	SourceCommit string `json:"source_commit,omitempty"`
	// Version counts the workflow's versions from 1, as
	// `compiler versions` does; 0 when it cannot be told.
	Version int `json:"version,omitempty"`
}

// Sync states of a workflow's Flux Kustomization; string(Suspended) is
// one too: spec.suspend is set, and the deploy head holds nothing else
// for the workflow than what is live.
const (
	Synced      = "Synced"      // the last attempted revision is applied and ready
	Applying    = "Applying"    // Flux is applying a revision
	RollingOut  = "RollingOut"  // Flux applied the live revision and checks its health
	Waiting     = "Waiting"     // Flux waits for what it retries by itself: a dependency, the source's artifact
	OutOfSync   = "OutOfSync"   // the deploy head holds another tree for the workflow than the live revision, and Flux is not applying it
	Failed      = "Failed"      // the last attempt failed, Flux stalled or the source fails; Live is still what runs
	NotDeployed = "NotDeployed" // the cluster has no Kustomization for it
	Unwatched   = "NotWatched"  // no cluster context: nothing is known
)

// Sync is where Flux stands with a workflow.
type Sync struct {
	State string `json:"state"`
	// Live is the revision whose objects Flux applied last: its
	// lastAppliedRevision, or the one whose health Flux is checking
	// (RollingOut) or found failing (Unhealthy). Attempted is the one
	// tried last, when it differs.
	Live      *Revision `json:"live,omitempty"`
	Attempted *Revision `json:"attempted,omitempty"`
	// Unhealthy is set when Flux applied Live, pruned what it no longer
	// holds, and its health check failed (HealthCheckFailed): Live is
	// applied, unhealthy.
	Unhealthy bool `json:"unhealthy,omitempty"`
	// Head is the deploy branch head, when it holds another tree for the
	// workflow than Live (OutOfSync).
	Head *Revision `json:"head,omitempty"`
	// Suspended is set while the Kustomization's spec.suspend is, also
	// when the state says more (OutOfSync).
	Suspended bool `json:"suspended,omitempty"`
	// Reason is Flux's, when an attempt failed, Flux waits or the source
	// fails; Message says it in words.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Ref names an object of a workflow. An expected object's Group and
// Namespace may be unknown (""): see Expected.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Drift lists the differences between the deploy tree at the live
// revision and the cluster.
type Drift struct {
	// Missing objects are in the tree and not in the cluster.
	Missing []Ref `json:"missing,omitempty"`
	// Extra objects are managed in the cluster and not in the tree.
	Extra []Ref `json:"extra,omitempty"`
}

// Empty reports whether there is no drift.
func (d Drift) Empty() bool { return len(d.Missing) == 0 && len(d.Extra) == 0 }

// WorkflowStatus is what a workflow looks like live in its cluster.
type WorkflowStatus struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	Result
	Sync  Sync   `json:"sync"`
	Drift Drift  `json:"drift"`
	Nodes []Node `json:"nodes"`
}

// Expected is an object a deploy tree holds for a workflow, with the id of
// the node it was rendered from. Without a Namespace it is in the
// Kustomization's target namespace, unless Exact; without a Group, in the
// group of the watched kind of that name (a base file read for its kind
// alone).
type Expected struct {
	Ref
	Node string
	// Exact is set when Ref is the object's own, as Flux's inventory
	// names it: an empty Namespace is then a cluster-wide object's.
	Exact bool
}

// Resolver maps deploy commits to source commits and versions, and says
// which objects a deploy tree holds for a workflow.
type Resolver interface {
	Resolve(ctx context.Context, deployCommit, workflow string) (Revision, error)
	Expected(ctx context.Context, deployCommit, workflow string) ([]Expected, error)
}

// HeadResolver is a Resolver that also knows the deploy branch head (see
// WithDeployHead); without one, no workflow is ever OutOfSync.
type HeadResolver interface {
	Resolver
	// Ahead returns the deploy branch head when the workflow's tree there
	// differs from the one at deployCommit, and "" when it does not.
	Ahead(ctx context.Context, deployCommit, workflow string) (string, error)
}

// CommitOf returns the commit hash of a Flux revision: "deploy@sha1:abc"
// (Flux v2's form) or "deploy/abc" (the older one).
func CommitOf(revision string) string {
	if _, h, ok := strings.Cut(revision, ":"); ok {
		return h
	}
	if i := strings.LastIndexByte(revision, '/'); i >= 0 {
		return revision[i+1:]
	}
	return revision
}

// NotWatchedStatus is the status of a workflow whose cluster has no
// context to watch.
func NotWatchedStatus(name, cluster string) WorkflowStatus {
	return WorkflowStatus{Name: name, Cluster: cluster, Result: Result{NotWatched, "cluster " + cluster + " is not watched: HOOKS_KUBECONFIG has no context for it"},
		Sync: Sync{State: Unwatched}, Nodes: []Node{}}
}

// StatusOf computes a workflow's status from a snapshot of its cluster.
// Objects a controller owns (a CronJob's Jobs) are their owner's concern:
// they are neither shown nor drift. Resolver errors leave the version
// unknown and the workflow never OutOfSync; they never fail the status.
func StatusOf(ctx context.Context, snap Snapshot, name string, r Resolver) WorkflowStatus {
	ws := WorkflowStatus{Name: name, Cluster: snap.Cluster, Nodes: []Node{}}
	var objs []Object
	for _, o := range snap.Objects {
		if o.Workflow == name && !o.Owned {
			objs = append(objs, o)
		}
	}
	k := snap.Kustomization(name)
	ws.Sync = syncOf(ctx, k, name, r)
	srcState := ReadinessOf(snap.SourceOf(k))
	if srcState != nil {
		sourceFails(&ws.Sync, srcState)
	}
	var want []Expected
	if ws.Sync.Live != nil {
		want = expected(ctx, k, ws.Sync.Live.DeployCommit, name, r)
	}
	var missing []Expected
	ws.Drift, missing = driftOf(want, objs, targetNamespace(k), snap.Plugins)
	// A Kustomization labelled as the workflow's outside the Flux
	// namespaces is not its sync; it is drift, as any object labelled as
	// the workflow's that its tree does not hold.
	if want != nil && len(snap.ForeignKustomizations[name]) > 0 {
		ws.Drift.Extra = append(ws.Drift.Extra, snap.ForeignKustomizations[name]...)
		slices.SortFunc(ws.Drift.Extra, compareRefs)
	}
	objs = deployedTo(objs, want, targetNamespace(k))
	// A missing object is shown on the node that renders it, so that the
	// node reads Missing rather than vanishing from the graph.
	for _, w := range missing {
		objs = append(objs, Object{Kind: w.Kind, Group: w.Group, Namespace: w.Namespace, Name: w.Name, Workflow: name, Node: w.Node,
			Result: Result{Missing, "in the deploy tree, not in the cluster"}})
	}
	// Flux waited its timeout for what it applied to become ready: what
	// still is not will not be, as kstatus's Failed after a deadline.
	if ws.Sync.Unhealthy {
		for i, o := range objs {
			if o.Health == Progressing {
				objs[i].Result = Result{Degraded, words("not ready within the Kustomization's timeout", "", o.Reason)}
			}
		}
	}
	ws.Nodes = Nodes(objs)
	parts := []Result{Rollup(objs)}
	if k != nil {
		if fr := Compute(k); fr.Health != Healthy {
			fr.Reason = "Flux: " + fr.Reason
			parts = append(parts, fr)
		}
	}
	// A source that fetches nothing, or is told to, leaves the workflow
	// on what it last fetched.
	if srcState.Stops() {
		parts = append(parts, srcState.Named())
	}
	switch {
	case snap.Error != "":
		ws.Result = Result{Unknown, "cluster " + snap.Cluster + " " + snap.Unreadable()}
	case !snap.Synced:
		ws.Result = Result{Unknown, "the cluster's watches have not synced yet"}
	case k == nil && len(objs) == 0:
		ws.Result = Result{Unknown, "not deployed to cluster " + snap.Cluster + " yet"}
	default:
		ws.Result = Worst(parts...)
	}
	return ws
}

// expected returns the objects the live revision holds for a workflow:
// those Flux's inventory of its Kustomization says it applied, each on
// the node the deploy tree at live renders it from; without an inventory
// (Flux has applied nothing yet), the deploy tree's objects. nil when
// neither can be told: then there is no drift.
func expected(ctx context.Context, k *unstructured.Unstructured, live, name string, r Resolver) []Expected {
	var tree []Expected
	if r != nil {
		if exp, err := r.Expected(ctx, live, name); err == nil {
			tree = exp
		}
	}
	inv, ok := Inventory(k)
	if !ok {
		return tree
	}
	nodes := make(map[Ref]string, len(tree))
	for _, e := range tree {
		nodes[Ref{Group: e.Group, Kind: e.Kind, Name: e.Name}] = e.Node
	}
	out := make([]Expected, 0, len(inv))
	for _, e := range inv {
		out = append(out, Expected{Ref: e.Ref, Node: nodes[Ref{Group: e.Group, Kind: e.Kind, Name: e.Name}], Exact: true})
	}
	return out
}

// Unreadable says why and since when the cluster cannot be read, as in
// "unreachable since 2026-12-04T14:05:01Z: connection refused"; ""
// when it can.
func (s Snapshot) Unreadable() string {
	switch {
	case s.Error == "":
		return ""
	case s.Since.IsZero():
		return "cannot be read: " + s.Error
	}
	return "unreachable since " + s.Since.UTC().Format(time.RFC3339) + ": " + s.Error
}

// Kustomization returns the Flux Kustomization of workflow name.
func (s Snapshot) Kustomization(name string) *unstructured.Unstructured {
	return s.Kustomizations[name]
}

func syncOf(ctx context.Context, k *unstructured.Unstructured, name string, r Resolver) Sync {
	if k == nil {
		return Sync{State: NotDeployed}
	}
	applied, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
	attempted, _, _ := unstructured.NestedString(k.Object, "status", "lastAttemptedRevision")
	ready, ok := condition(k, meta.ReadyCondition)
	stalled, isStalled := condition(k, meta.StalledCondition)
	// kustomize-controller checks health after it has applied and
	// pruned: during the check and after it failed, the attempted
	// revision's objects are what runs.
	checking := healthCheck(k, attempted)
	unhealthy := ok && ready.Status == "False" && ready.Reason == meta.HealthCheckFailedReason && attempted != ""
	if checking != "" || unhealthy {
		applied = attempted
	}
	rev := func(commit string) *Revision {
		if commit == "" {
			return nil
		}
		if r == nil {
			return &Revision{DeployCommit: commit}
		}
		res, err := r.Resolve(ctx, commit, name)
		if err != nil {
			return &Revision{DeployCommit: commit}
		}
		return &res
	}
	s := Sync{Live: rev(CommitOf(applied)), Suspended: suspended(k), Unhealthy: unhealthy}
	if attempted != "" && attempted != applied {
		s.Attempted = rev(CommitOf(attempted))
	}
	switch {
	case s.Suspended:
		s.State, s.Message = string(Suspended), suspendedResult.Reason
	case isStalled && stalled.Status == "True":
		s.State, s.Reason, s.Message = Failed, stalled.Reason, stalled.Message
	case unhealthy:
		s.State, s.Reason, s.Message = Failed, ready.Reason, words("applied, unhealthy", "", ready.Message)
	case ok && ready.Status == "False" && terminal(ready.Reason):
		s.State, s.Reason, s.Message = Failed, ready.Reason, ready.Message
	case ok && ready.Status == "False":
		s.State, s.Reason, s.Message = Waiting, ready.Reason, waiting(ready)
	case checking != "":
		s.State, s.Message = RollingOut, checking
	case ok && ready.Status == "True" && s.Attempted == nil && observed(k):
		s.State = Synced
	default:
		s.State = Applying
		if ok {
			s.Message = ready.Message
		}
	}
	// At rest on a revision whose tree is not the deploy head's, Flux has
	// not seen the head yet, or cannot apply it.
	hr, ok := r.(HeadResolver)
	if !ok || s.Live == nil || (s.State != Synced && !s.Suspended) {
		return s
	}
	head, err := hr.Ahead(ctx, s.Live.DeployCommit, name)
	if err != nil || head == "" {
		return s
	}
	s.State, s.Head = OutOfSync, rev(head)
	s.Message = "deploy commit " + gitrepo.ShortID(head) + " changes this workflow and is not applied"
	if s.Suspended {
		s.Message += ": " + suspendedResult.Reason
	}
	return s
}

// sourceFails marks a sync whose source fails: a workflow at rest on
// what the source last fetched is not Synced but Failed, as is one
// waiting for the source's artifact, and an OutOfSync one says why. A
// suspended workflow or one Flux is applying, checking or failed on stays
// as it is; its health shows the source.
func sourceFails(s *Sync, src *Readiness) {
	if src.Health != Degraded {
		return
	}
	msg := src.Named().Reason
	switch s.State {
	case OutOfSync:
		s.Reason, s.Message = src.FluxReason, s.Message+"; "+msg
	case Synced, Waiting:
		s.State, s.Reason, s.Message = Failed, src.FluxReason, msg
	}
}

// observed reports whether Flux has reconciled a Kustomization's spec as
// it is (spec.suspend lifted, say).
func observed(k *unstructured.Unstructured) bool {
	g, found, _ := unstructured.NestedInt64(k.Object, "status", "observedGeneration")
	return !found || g == k.GetGeneration()
}

// deployedTo returns the objects of objs in the namespaces the workflow
// deploys to: its Kustomization's target namespace and those its deploy
// tree names, and the cluster-wide ones. Anyone who may write an object in
// another namespace may label it as the workflow's: such an object is
// drift to prune (Drift.Extra), never the workflow's health or a node's.
func deployedTo(objs []Object, want []Expected, target string) []Object {
	own := map[string]bool{"": true}
	if target != "" {
		own[target] = true
	}
	for _, w := range want {
		if w.Exact || w.Namespace != "" {
			own[w.Namespace] = true
		}
	}
	return slices.DeleteFunc(objs, func(o Object) bool { return !own[o.Namespace] })
}

// targetNamespace returns a Kustomization's spec.targetNamespace.
func targetNamespace(k *unstructured.Unstructured) string {
	if k == nil {
		return ""
	}
	ns, _, _ := unstructured.NestedString(k.Object, "spec", "targetNamespace")
	return ns
}

// driftOf compares the objects a deploy tree expects with the live ones
// by group, kind, namespace and name, and returns the expected objects
// that are missing. Only kinds this package watches are compared; without
// a tree to compare with there is no drift. An expected object without a
// namespace, unless Exact, is in namespace, or in any when that is "" too.
// plugins are the plugin kinds watched.
func driftOf(want []Expected, live []Object, namespace string, plugins map[schema.GroupKind]bool) (Drift, []Expected) {
	if want == nil {
		return Drift{}, nil
	}
	have := map[Ref]bool{}
	haveAnyNS := map[Ref]bool{}
	for _, o := range live {
		ref := o.Ref()
		have[ref] = true
		ref.Namespace = ""
		haveAnyNS[ref] = true
	}
	wanted := map[Ref]bool{}
	var d Drift
	var missing []Expected
	for _, w := range want {
		group, ok := watchedGroup(w.Group, w.Kind, plugins)
		if !ok {
			continue
		}
		w.Group = group
		if w.Namespace == "" && !w.Exact {
			w.Namespace = namespace
		}
		wanted[w.Ref] = true
		found := have[w.Ref]
		if w.Namespace == "" && !w.Exact {
			found = haveAnyNS[w.Ref]
		}
		if !found {
			d.Missing = append(d.Missing, w.Ref)
			missing = append(missing, w)
		}
	}
	for _, o := range live {
		ref := o.Ref()
		anyNS := ref
		anyNS.Namespace = ""
		if !wanted[ref] && !wanted[anyNS] {
			d.Extra = append(d.Extra, ref)
		}
	}
	slices.SortFunc(d.Missing, compareRefs)
	slices.SortFunc(d.Extra, compareRefs)
	return d, missing
}

func compareRefs(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// watchedGroup returns the API group of a watched kind: group itself when
// this package watches the kind in it (among Managed or plugins), and when
// group is "" and the kind is not a core one, the group of Managed it is
// watched in. ok is false for a kind that is not watched: a plugin kind
// named like a core one (Knative's Service) is never taken for it.
func watchedGroup(group, kind string, plugins map[schema.GroupKind]bool) (string, bool) {
	if plugins[schema.GroupKind{Group: group, Kind: kind}] {
		return group, true
	}
	res := resourceOf(kind)
	for _, gvr := range Managed {
		if gvr.Resource == res && gvr.Group == group {
			return group, true
		}
	}
	if group != "" {
		return "", false
	}
	for _, gvr := range Managed {
		if gvr.Resource == res {
			return gvr.Group, true
		}
	}
	return "", false
}

// resourceOf returns the plural resource name of a watched kind.
func resourceOf(kind string) string {
	switch k := strings.ToLower(kind); {
	case strings.HasSuffix(k, "y"):
		return strings.TrimSuffix(k, "y") + "ies"
	case strings.HasSuffix(k, "s"):
		return k + "es"
	default:
		return k + "s"
	}
}
