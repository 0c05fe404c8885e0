package canvas

import (
	"context"
	"fmt"
	"net"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// NodeStatus is a node's _status as the editor's settings panels show it:
// a state in the editor's words for the node's kind, a message, and the
// figures of the node's main object under the editor's names. It is read
// from the workflow's status record, what /api/status serves; nothing
// here is stored.
type NodeStatus struct {
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// Replicas and ReadyReplicas are a Deployment's or StatefulSet's
	// wanted and ready pods.
	Replicas      *int64 `json:"replicas,omitempty"`
	ReadyReplicas *int64 `json:"readyReplicas,omitempty"`
	// DesiredNumberScheduled and NumberReady are a DaemonSet's.
	DesiredNumberScheduled *int64 `json:"desiredNumberScheduled,omitempty"`
	NumberReady            *int64 `json:"numberReady,omitempty"`
	// CurrentReplicas and DesiredReplicas are an HPA's.
	CurrentReplicas *int64 `json:"currentReplicas,omitempty"`
	DesiredReplicas *int64 `json:"desiredReplicas,omitempty"`
	// ClusterIP, NodePort and ExternalIP are a Service's: its first node
	// port and its first external address.
	ClusterIP  string `json:"clusterIP,omitempty"`
	NodePort   int64  `json:"nodePort,omitempty"`
	ExternalIP string `json:"externalIP,omitempty"`
	// LoadBalancerIP and LoadBalancerHostname are an Ingress's first
	// address, an IP or a host name.
	LoadBalancerIP       string `json:"loadBalancerIP,omitempty"`
	LoadBalancerHostname string `json:"loadBalancerHostname,omitempty"`
	// Capacity is a PersistentVolumeClaim's.
	Capacity string `json:"capacity,omitempty"`
	// Succeeded and Failed count a Job's pods.
	Succeeded *int64 `json:"succeeded,omitempty"`
	Failed    *int64 `json:"failed,omitempty"`
	// LastScheduleTime and LastSuccessfulTime are a CronJob's.
	LastScheduleTime   string `json:"lastScheduleTime,omitempty"`
	LastSuccessfulTime string `json:"lastSuccessfulTime,omitempty"`
}

// mainKinds orders the kinds of objects a node renders: a node's status
// is shown from the first of them it has (a workload's, not its
// ConfigMap's).
var mainKinds = []string{
	"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "HorizontalPodAutoscaler",
	"Ingress", "Service", "PersistentVolumeClaim", "ConfigMap", "NetworkPolicy",
}

// mainObject returns the object a node's status is shown from.
func mainObject(n watch.Node) (watch.Object, bool) {
	best, rank := -1, len(mainKinds)
	for i, o := range n.Objects {
		r := slices.Index(mainKinds, o.Kind)
		if r < 0 {
			r = len(mainKinds)
		}
		if best < 0 || r < rank {
			best, rank = i, r
		}
	}
	if best < 0 {
		return watch.Object{}, false
	}
	return n.Objects[best], true
}

// NodeStatusOf returns the _status of a node of a workflow's status
// record: its health in the words the editor uses for the kind of its
// main object, the reason in words, and that object's figures.
func NodeStatusOf(n watch.Node) NodeStatus {
	s := NodeStatus{State: stateOf(n.Health), Message: n.Reason}
	o, ok := mainObject(n)
	if !ok {
		return s
	}
	f := o.Figures
	if f == nil {
		f = &watch.Figures{}
	}
	switch o.Kind {
	case "Deployment", "StatefulSet":
		s.Replicas, s.ReadyReplicas = f.DesiredReplicas, f.ReadyReplicas
	case "DaemonSet":
		s.DesiredNumberScheduled, s.NumberReady = f.DesiredReplicas, f.ReadyReplicas
	case "HorizontalPodAutoscaler":
		s.CurrentReplicas, s.DesiredReplicas = f.CurrentReplicas, f.DesiredReplicas
		if n.Health == watch.Healthy {
			s.State = "stable"
			if f.CurrentReplicas != nil && f.DesiredReplicas != nil && *f.CurrentReplicas != *f.DesiredReplicas {
				s.State = "scaling"
			}
		}
	case "Service":
		s.ClusterIP = f.ClusterIP
		if len(f.NodePorts) > 0 {
			s.NodePort = f.NodePorts[0]
		}
		if len(f.ExternalIPs) > 0 {
			s.ExternalIP = f.ExternalIPs[0]
		}
	case "Ingress":
		if len(f.Addresses) > 0 {
			if net.ParseIP(f.Addresses[0]) != nil {
				s.LoadBalancerIP = f.Addresses[0]
			} else {
				s.LoadBalancerHostname = f.Addresses[0]
			}
		}
		if n.Health == watch.Progressing {
			s.State = "pending"
		}
	case "PersistentVolumeClaim":
		s.Capacity = f.Capacity
		switch {
		case f.Phase == "Bound" || f.Phase == "Lost":
			s.State = f.Phase
		case n.Health == watch.Progressing:
			s.State = "Pending"
		}
	case "Job":
		s.Succeeded, s.Failed = f.Succeeded, f.Failed
		switch n.Health {
		case watch.Healthy:
			if f.Succeeded != nil && *f.Succeeded > 0 {
				s.State = "completed"
			}
		case watch.Progressing:
			s.State = "running"
		case watch.Degraded:
			s.State = "failed"
		}
	case "CronJob":
		s.LastScheduleTime, s.LastSuccessfulTime = f.LastSchedule, f.LastSuccess
		if n.Health == watch.Healthy {
			s.State = "active"
		}
	case "ConfigMap":
		if n.Health == watch.Healthy {
			s.State = "created"
		}
	case "NetworkPolicy":
		if n.Health == watch.Healthy {
			s.State = "active"
		}
	}
	return s
}

// stateOf says a health in the editor's words: healthy, partial (on its
// way), error, suspended or unknown.
func stateOf(h watch.Health) string {
	switch h {
	case watch.Healthy:
		return "healthy"
	case watch.Progressing:
		return "partial"
	case watch.Degraded, watch.Missing:
		return "error"
	case watch.Suspended:
		return "suspended"
	default:
		return "unknown"
	}
}

// StatusNode is a node as the status answer and the stream's
// workflow_sync carry it: its id and, in data, its _status.
type StatusNode struct {
	ID   string         `json:"id"`
	Data StatusNodeData `json:"data"`
}

// StatusNodeData holds a node's _status.
type StatusNodeData struct {
	Status NodeStatus `json:"_status"`
}

// statusNodes returns the _status of every node of a status record that
// has an id, in the record's order (by node id).
func statusNodes(ws *watch.WorkflowStatus) []StatusNode {
	nodes := []StatusNode{}
	if ws == nil {
		return nodes
	}
	for _, n := range ws.Nodes {
		if n.ID != "" {
			nodes = append(nodes, StatusNode{ID: n.ID, Data: StatusNodeData{NodeStatusOf(n)}})
		}
	}
	return nodes
}

// WorkflowStatus is the answer of GET /workflows/:id/status: the
// workflow's health in the editor's words and Slipway's, where Flux
// stands with it, and each node's _status. A workflow Flux has not
// applied yet, or that no cluster watch reports, is "unknown" with no
// nodes.
type WorkflowStatus struct {
	ID      string       `json:"id"`
	State   string       `json:"state"`
	Health  watch.Health `json:"health"`
	Message string       `json:"message,omitempty"`
	// Sync is where Flux stands with the workflow, as /api/status says.
	Sync  *watch.Sync  `json:"sync,omitempty"`
	Nodes []StatusNode `json:"nodes"`
}

// workflowStatusOf returns the status answer of the workflow id from its
// record, nil when there is none.
func workflowStatusOf(id string, ws *watch.WorkflowStatus) WorkflowStatus {
	if ws == nil {
		return WorkflowStatus{ID: id, State: stateOf(watch.Unknown), Health: watch.Unknown, Message: "no status yet: the workflow has not been deployed or its cluster is not watched", Nodes: []StatusNode{}}
	}
	sync := ws.Sync
	return WorkflowStatus{ID: id, State: stateOf(ws.Health), Health: ws.Health, Message: ws.Reason, Sync: &sync, Nodes: statusNodes(ws)}
}

// StatusSource is what the status routes read: the records /api/status
// serves, and the one stream of them /api/events follows.
type StatusSource interface {
	// WorkflowStatus returns a workflow's record; nil when there is none.
	WorkflowStatus(ctx context.Context, name string) (*watch.WorkflowStatus, error)
	// StreamWorkflow answers c with a Server-Sent Events stream that
	// starts with first and then carries, for the record of the workflow
	// and each change of it, what events returns (given the record's
	// revision and the record, nil once deleted), within the limits of
	// the service's event streams, counted against user, the signed-in
	// user's id.
	StreamWorkflow(c *fiber.Ctx, name, user string, first []byte, events func(rev int64, ws *watch.WorkflowStatus) []byte) error
	// ClusterStatuses returns the clusters' records, by name.
	ClusterStatuses(ctx context.Context) (map[string]hooks.ClusterStatus, error)
}

// status answers GET /workflows/:id/status from the workflow's status
// record.
func (s *Server) status(c *fiber.Ctx) error {
	id, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	head, err := s.head(c.UserContext())
	if err != nil {
		return s.fail(c, err)
	}
	files, err := s.opts.Source.Source(head)
	if err != nil {
		return s.fail(c, err)
	}
	if _, ok := files[workflow.WorkflowFile(id)]; !ok {
		return s.fail(c, fmt.Errorf("%w: %s", errNoWorkflow, id))
	}
	ws, err := s.opts.Status.WorkflowStatus(c.UserContext(), id)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(workflowStatusOf(id, ws))
}
