package watch

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// Sync states of a workflow's Flux Kustomization.
const (
	Synced      = "Synced"      // the last attempted revision is applied and ready
	Applying    = "Applying"    // Flux is applying a revision
	RollingOut  = "RollingOut"  // Flux applied the live revision and checks its health
	Failed      = "Failed"      // the last attempt failed; Live is still what runs
	NotDeployed = "NotDeployed" // the cluster has no Kustomization for it
	Unwatched   = "NotWatched"  // no cluster context: nothing is known
)

// Sync is where Flux stands with a workflow.
type Sync struct {
	State string `json:"state"`
	// Live is the revision whose objects Flux applied last: its
	// lastAppliedRevision, or the one whose health Flux is checking
	// (RollingOut). Attempted is the one tried last, when it differs.
	Live      *Revision `json:"live,omitempty"`
	Attempted *Revision `json:"attempted,omitempty"`
	// Message is Flux's, when an attempt failed or is under way.
	Message string `json:"message,omitempty"`
}

// Ref names an object of a workflow.
type Ref struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
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
// the node it was rendered from.
type Expected struct {
	Ref
	Node string
}

// Resolver maps deploy commits to source commits and versions, and says
// which objects a deploy tree holds for a workflow.
type Resolver interface {
	Resolve(ctx context.Context, deployCommit, workflow string) (Revision, error)
	Expected(ctx context.Context, deployCommit, workflow string) ([]Expected, error)
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
// Resolver errors leave the version unknown; they never fail the status.
func StatusOf(ctx context.Context, snap Snapshot, name string, r Resolver) WorkflowStatus {
	ws := WorkflowStatus{Name: name, Cluster: snap.Cluster, Nodes: []Node{}}
	var objs []Object
	for _, o := range snap.Objects {
		if o.Workflow == name {
			objs = append(objs, o)
		}
	}
	k := snap.Kustomization(name)
	ws.Sync = syncOf(ctx, k, name, r)
	var want []Expected
	if ws.Sync.Live != nil && r != nil {
		if exp, err := r.Expected(ctx, ws.Sync.Live.DeployCommit, name); err == nil {
			want = exp
		}
	}
	ws.Drift = driftOf(want, objs)
	// A missing object is shown on the node that renders it, so that the
	// node reads Missing rather than vanishing from the graph.
	for _, w := range want {
		if slices.Contains(ws.Drift.Missing, w.Ref) {
			objs = append(objs, Object{Kind: w.Kind, Name: w.Name, Workflow: name, Node: w.Node, Result: Result{Missing, "in the deploy tree, not in the cluster"}})
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
	checking := healthCheck(k, attempted)
	if checking != "" {
		applied = attempted
	}
	rev := func(flux string) *Revision {
		if flux == "" {
			return nil
		}
		commit := CommitOf(flux)
		if r == nil {
			return &Revision{DeployCommit: commit}
		}
		res, err := r.Resolve(ctx, commit, name)
		if err != nil {
			return &Revision{DeployCommit: commit}
		}
		return &res
	}
	s := Sync{Live: rev(applied)}
	if attempted != "" && attempted != applied {
		s.Attempted = rev(attempted)
	}
	ready, ok := condition(k, "Ready")
	switch {
	case ok && ready.Status == "False":
		s.State, s.Message = Failed, ready.Message
	case checking != "":
		s.State, s.Message = RollingOut, checking
	case ok && ready.Status == "True" && s.Attempted == nil:
		s.State = Synced
	default:
		s.State = Applying
		if ok {
			s.Message = ready.Message
		}
	}
	return s
}

// driftOf compares the objects a deploy tree expects with the live ones.
// Only kinds this package watches are compared; without a tree to compare
// with there is no drift.
func driftOf(want []Expected, live []Object) Drift {
	if want == nil {
		return Drift{}
	}
	watched := map[string]bool{}
	for _, gvr := range Managed {
		watched[gvr.Resource] = true
	}
	have := map[Ref]bool{}
	for _, o := range live {
		have[Ref{o.Kind, o.Name}] = true
	}
	wanted := map[Ref]bool{}
	var d Drift
	for _, w := range want {
		if !watched[resourceOf(w.Kind)] {
			continue
		}
		wanted[w.Ref] = true
		if !have[w.Ref] {
			d.Missing = append(d.Missing, w.Ref)
		}
	}
	for ref := range have {
		if !wanted[ref] {
			d.Extra = append(d.Extra, ref)
		}
	}
	sortRefs := func(a, b Ref) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name)) }
	slices.SortFunc(d.Missing, sortRefs)
	slices.SortFunc(d.Extra, sortRefs)
	return d
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
