package canvas

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// streamEvent is the data of a node_update or workflow_sync event, as
// the editor reads it: the stream it belongs to, its event type, and in
// data the node's id and _status, or every node.
type streamEvent struct {
	Type      string `json:"type"`
	StreamKey string `json:"stream_key"`
	EventType string `json:"event_type"`
	Data      any    `json:"data"`
}

// nodeUpdate is the data of a node_update event.
type nodeUpdate struct {
	NodeID string     `json:"node_id"`
	Status NodeStatus `json:"status"`
}

// workflowSync is the data of a workflow_sync event.
type workflowSync struct {
	Nodes []StatusNode `json:"nodes"`
}

// sse encodes one Server-Sent Event whose data is v as JSON on one line.
func sse(id int64, event string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("canvas stream: %v", err)) // only plain structs are marshalled
	}
	if id > 0 {
		return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", id, event, data)
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data)
}

// metadataEvent is the stream's first event: the workflow document as
// GET /workflows/:id returns it, each node with its _status.
func metadataEvent(doc any) []byte { return sse(0, "metadata", doc) }

// nodeEvents turns the changes of one workflow's status record into the
// events of its editor's stream: a workflow_sync with every node first,
// then a node_update for each node whose _status changed, and a
// workflow_sync again when nodes went away (it replaces what the editor
// shows). It holds what it sent last; one stream calls it at a time.
type nodeEvents struct {
	key  string
	sent map[string]NodeStatus
}

func newNodeEvents(id string) *nodeEvents { return &nodeEvents{key: "workflow:" + id} }

// next returns the events for the record at revision rev (nil when it
// was deleted); none when no node changed.
func (e *nodeEvents) next(rev int64, ws *watch.WorkflowStatus) []byte {
	nodes := statusNodes(ws)
	now := make(map[string]NodeStatus, len(nodes))
	for _, n := range nodes {
		now[n.ID] = n.Data.Status
	}
	defer func() { e.sent = now }()
	gone := false
	for id := range e.sent {
		if _, ok := now[id]; !ok {
			gone = true
		}
	}
	if e.sent == nil || gone {
		return sse(rev, "workflow_sync", streamEvent{Type: "workflow", StreamKey: e.key, EventType: "workflow_sync", Data: workflowSync{nodes}})
	}
	var out []byte
	for _, n := range nodes {
		if old, ok := e.sent[n.ID]; ok && reflect.DeepEqual(old, n.Data.Status) {
			continue
		}
		out = append(out, sse(rev, "node_update", streamEvent{Type: "workflow", StreamKey: e.key, EventType: "node_update", Data: nodeUpdate{n.ID, n.Data.Status}})...)
	}
	return out
}

// withStatus returns the nodes of a workflow document, a JSON array,
// with the _status of the record set in each node's data.
func withStatus(nodes jsontext.Value, ws *watch.WorkflowStatus) (jsontext.Value, error) {
	set := map[string]jsontext.Value{}
	for _, n := range statusNodes(ws) {
		b, err := json.Marshal(n.Data.Status)
		if err != nil {
			return nil, err
		}
		set[n.ID] = b
	}
	return setNodeData(nodes, "_status", set)
}

// setNodeData returns nodes, a JSON array of canvas nodes, with the member
// key of the data of each node whose id is in values set to its value,
// and every other byte as it was written.
func setNodeData(nodes jsontext.Value, key string, values map[string]jsontext.Value) (jsontext.Value, error) {
	var list []jsontext.Value
	if err := decodeJSON(nodes, &list); err != nil {
		return nil, err
	}
	for i, raw := range list {
		var n struct {
			ID string `json:"id"`
		}
		if err := decodeJSON(raw, &n); err != nil {
			continue
		}
		v, ok := values[n.ID]
		if !ok {
			continue
		}
		node, err := readMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("/nodes/%d: %w", i, err)
		}
		var data []member
		if d := memberValue(node, "data"); len(d) > 0 && jsontext.Value(d).Kind() == '{' {
			if data, err = readMembers(d); err != nil {
				return nil, fmt.Errorf("/nodes/%d/data: %w", i, err)
			}
		}
		compact, err := compactMembers(setMember(data, key, v))
		if err != nil {
			return nil, err
		}
		if list[i], err = compactMembers(setMember(node, "data", compact)); err != nil {
			return nil, err
		}
	}
	b := []byte{'['}
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v...)
	}
	return append(b, ']'), nil
}

// stream answers GET /workflows/:id/status/stream: the editor's
// Server-Sent Events, metadata, then workflow_sync and node_update as the
// workflow's status record changes, from the stream /api/events follows
// and within its limits (heartbeats, write deadlines, slow readers cut).
// The stream counts against its signed-in user's streams, not its
// address: behind an authenticating proxy every user has the proxy's.
func (s *Server) stream(c *fiber.Ctx) error {
	id, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	w, err := s.readWorkflow(c.UserContext(), id)
	if err != nil {
		return s.fail(c, err)
	}
	ws, err := s.opts.Status.WorkflowStatus(c.UserContext(), id)
	if err != nil {
		return s.fail(c, err)
	}
	if w.Nodes, err = withStatus(w.Nodes, ws); err != nil {
		return s.fail(c, fmt.Errorf("%s: %w", workflow.WorkflowFile(id), err))
	}
	u, _ := CurrentUser(c)
	return s.opts.Status.StreamWorkflow(c, id, u.ID, metadataEvent(w), newNodeEvents(id).next)
}
