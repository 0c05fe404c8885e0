package watch

import (
	"cmp"
	"slices"
	"time"
)

// Object is the status of one live (or expected and missing) object.
type Object struct {
	// Kind is the object's kind, Group the API group ("" for the core).
	Kind      string `json:"kind"`
	Group     string `json:"group,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Workflow and Node come from the object's part-of label and node-id
	// annotation.
	Workflow string `json:"-"`
	Node     string `json:"node,omitempty"`
	// Owned is set for an object a controller owns (a CronJob's Job): it
	// carries its owner's labels and is its owner's concern.
	Owned bool `json:"-"`
	Result
	Conditions []Condition `json:"conditions,omitempty"`
	// Changes are fields the deploy tree sets that a manager other than
	// Flux set last (see FieldDrift).
	Changes []FieldChange `json:"changes,omitempty"`
	// Figures are the object's counts and addresses, for the kinds that
	// have them.
	Figures *Figures `json:"figures,omitempty"`
	// Events are the object's recent warning events, newest first.
	Events []Event `json:"events,omitempty"`
}

// Ref returns the object's group, kind, namespace and name.
func (o Object) Ref() Ref {
	return Ref{Group: o.Group, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

// Event is a warning event about an object.
type Event struct {
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
}

// Node is the status of one node of a workflow: the worst of its objects.
type Node struct {
	ID string `json:"id"`
	Result
	Objects []Object `json:"objects"`
}

// Rollup returns the worst of results, whose reason names the object it
// comes from; no objects at all is Unknown.
func Rollup(objects []Object) Result {
	if len(objects) == 0 {
		return Result{Unknown, "no objects seen"}
	}
	worst := objects[0]
	for _, o := range objects[1:] {
		if o.Health.Worse(worst.Health) {
			worst = o
		}
	}
	r := worst.Result
	if r.Health != Healthy {
		r.Reason = worst.Kind + " " + worst.Name + ": " + r.Reason
		if worst.Reason == "" {
			r.Reason = worst.Kind + " " + worst.Name + " is " + string(worst.Health)
		}
	} else {
		r.Reason = ""
	}
	return r
}

// Worst returns the worst of results, keeping its reason.
func Worst(results ...Result) Result {
	if len(results) == 0 {
		return Result{Unknown, "nothing to judge"}
	}
	w := results[0]
	for _, r := range results[1:] {
		if r.Health.Worse(w.Health) {
			w = r
		}
	}
	return w
}

// Nodes groups a workflow's objects by node, sorted by node id and each
// node's objects by kind, group, namespace and name. Objects without a node id form the
// node "".
func Nodes(objects []Object) []Node {
	by := map[string][]Object{}
	for _, o := range objects {
		by[o.Node] = append(by[o.Node], o)
	}
	out := make([]Node, 0, len(by))
	for id, objs := range by {
		slices.SortFunc(objs, compareObjects)
		out = append(out, Node{ID: id, Result: Rollup(objs), Objects: objs})
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func compareObjects(a, b Object) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Group, b.Group), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
