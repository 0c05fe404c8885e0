package workflow

import "encoding/json"

// Status says what the compiler does with a workflow.
type Status string

// Workflow statuses.
const (
	// StatusDraft workflows are validated but not deployed.
	StatusDraft Status = "draft"
	// StatusPublished workflows are compiled into the deploy branch.
	StatusPublished Status = "published"
	// StatusArchived workflows are removed from the deploy branch.
	StatusArchived Status = "archived"
)

// Workflow is one workflow file: workflows/<name>.json.
type Workflow struct {
	// Schema is the optional JSON Schema reference for editors.
	Schema string `json:"$schema,omitempty"`
	// Name is the workflow name; it equals the file stem.
	Name string `json:"name"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// ClusterID names the target cluster (a clusters/<name>.json file).
	ClusterID string `json:"cluster_id,omitempty"`
	// Status decides whether the workflow is deployed.
	Status Status `json:"status"`
	// Tags are user-defined tags.
	Tags []string `json:"tags,omitempty"`
	// Namespace is the target namespace; it defaults to the workflow name.
	Namespace string `json:"namespace,omitempty"`
	// DependsOn names workflows that must be ready before this one is applied.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Flux overrides the cluster's settings of the workflow's Flux
	// Kustomization, field by field; its dependsOn adds to the cluster's.
	Flux *FluxSettings `json:"flux,omitempty"`
	// Nodes are the canvas nodes.
	Nodes []Node `json:"nodes"`
	// Edges are the canvas edges; they are the truth about links.
	Edges []Edge `json:"edges"`

	// Warnings are problems that do not stop a draft: canvas defaults a
	// user has yet to fill in. Publishing the workflow makes them errors.
	Warnings Errors `json:"-"`
	// Ignored lists the keys of the file that hold editor or run-time
	// state: accepted, never rendered.
	Ignored []Ignored `json:"-"`

	valid   *Valid // made by validation
	cluster string // resolved by CheckSet
	// nsNode is the node whose namespace set the workflow's, if any (see
	// NamespacePointer).
	nsNode string
}

// Ignored is a key a workflow editor or its backend writes into a saved
// workflow that holds canvas or run-time state (a status, a validation
// flag, a copy of the node id). It is accepted and never rendered.
type Ignored struct {
	// Pointer is the RFC 6901 JSON pointer of the key.
	Pointer string `json:"pointer"`
	// NodeID is the node the key belongs to.
	NodeID string `json:"node,omitempty"`
	// Reason says what the key holds.
	Reason string `json:"reason"`
}

// TargetNamespace returns the namespace the workflow deploys into.
func (w *Workflow) TargetNamespace() string {
	if w.Namespace != "" {
		return w.Namespace
	}
	return w.Name
}

// NamespacePointer returns the JSON pointer of what sets the workflow's
// namespace, and the node it belongs to: the workflow's namespace, the
// namespace of the node that gave the workflow one (as editors that keep
// a namespace per node save it), or the name the namespace defaults to.
func (w *Workflow) NamespacePointer() (ptr, nodeID string) {
	switch {
	case w.nsNode != "":
		return pointer("/nodes", w.nodeIndex(w.nsNode), "data", "namespace"), w.nsNode
	case w.Namespace != "":
		return "/namespace", ""
	default:
		return "/name", ""
	}
}

// Cluster returns the name of the cluster the workflow targets.
func (w *Workflow) Cluster() string {
	if w.cluster != "" {
		return w.cluster
	}
	if w.ClusterID != "" {
		return w.ClusterID
	}
	return DefaultCluster
}

// NodeByID returns the node with the given id, or nil.
func (w *Workflow) NodeByID(id string) *Node {
	for i := range w.Nodes {
		if w.Nodes[i].ID == id {
			return &w.Nodes[i]
		}
	}
	return nil
}

// Position is a node's place on the canvas.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Node is one canvas node: a Kubernetes resource.
type Node struct {
	// ID identifies the node within its workflow.
	ID string `json:"id"`
	// Type is the node kind.
	Type Kind `json:"type"`
	// Position is the canvas position; it never affects output.
	Position Position `json:"position"`
	// Data is the kind-specific configuration as written in the file.
	Data json.RawMessage `json:"data"`

	// Spec is Data decoded into the kind's type (*DeploymentData, ...).
	Spec NodeSpec `json:"-"`
}

// Name returns the Kubernetes object name of the node.
func (n *Node) Name() string {
	if n.Spec == nil {
		return ""
	}
	return n.Spec.ObjectMeta().Name
}

// Edge is one canvas edge.
type Edge struct {
	// ID identifies the edge within its workflow.
	ID string `json:"id"`
	// Source is the id of the node the edge starts at.
	Source string `json:"source"`
	// Target is the id of the node the edge ends at.
	Target string `json:"target"`
	// SourceHandle names a port of the source node (an ingress path id).
	SourceHandle string `json:"sourceHandle,omitempty"`
	// TargetHandle names a port of the target node.
	TargetHandle string `json:"targetHandle,omitempty"`
	// Type is the edge's rendering type on the canvas; it never affects output.
	Type string `json:"type,omitempty"`
	// Animated is a canvas rendering hint; it never affects output.
	Animated bool `json:"animated,omitempty"`
	// Label is a canvas caption; it never affects output.
	Label string `json:"label,omitempty"`
}
