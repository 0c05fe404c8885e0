package canvas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/slipway-gitops/slipway/workflow"
)

// runtimeFields are the keys of node data that hold what a run or the
// editor's state wrote, not what the user drew: a save leaves them out of
// the workflow file.
var runtimeFields = map[string]bool{
	"_status":            true,
	"_secretCreated":     true,
	"hasValidationError": true,
}

// Node is a canvas node as the workflow file keeps it: React Flow's other
// fields (selected, measured, dragging) are the editor's view state.
type Node struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Position Position       `json:"position"`
	Data     jsontext.Value `json:"data,omitzero"`
}

// Position is where a node is drawn.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Edge is a canvas edge as the workflow file keeps it.
type Edge struct {
	ID           string `json:"id"`
	Source       string `json:"source"`
	Target       string `json:"target"`
	SourceHandle string `json:"sourceHandle,omitempty"`
	TargetHandle string `json:"targetHandle,omitempty"`
	Type         string `json:"type,omitempty"`
}

// member is one member of a JSON object, its value as written.
type member struct {
	name  string
	value jsontext.Value
}

// readMembers returns the members of a JSON object in their order.
func readMembers(doc []byte) ([]member, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(doc))
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '{' {
		return nil, fmt.Errorf("a JSON %s is not an object", tok.Kind())
	}
	var ms []member
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String() // before the next read voids tok
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		ms = append(ms, member{name: name, value: v.Clone()})
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := dec.ReadValue(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return ms, nil
}

// setMember sets the value of a member, appending it when it is absent.
func setMember(ms []member, name string, value jsontext.Value) []member {
	for i := range ms {
		if ms[i].name == name {
			ms[i].value = value
			return ms
		}
	}
	return append(ms, member{name: name, value: value})
}

// memberValue returns the value of a member, or nil.
func memberValue(ms []member, name string) jsontext.Value {
	for _, m := range ms {
		if m.name == name {
			return m.value
		}
	}
	return nil
}

// writeMembers writes an object of members, one a line, each value as it
// was written but for those in fresh, which are indented anew: a save
// changes no more of the file than the canvas. A file over
// workflow.MaxFileSize is refused (413), not written: no reader of the
// repository would read it, nor any other file of its commits.
func writeMembers(ms []member, fresh map[string]bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, m := range ms {
		name, err := jsontext.AppendQuote(nil, m.name)
		if err != nil {
			return nil, err
		}
		v := m.value.Clone()
		if fresh[m.name] {
			if err := v.Indent(jsontext.WithIndentPrefix("  "), jsontext.WithIndent("  ")); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&b, "  %s: %s", name, v)
		if i < len(ms)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	if b.Len() > workflow.MaxFileSize {
		return nil, &bodyError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("the workflow file would be %d bytes; a workflow file may be %d at most", b.Len(), workflow.MaxFileSize)}
	}
	return b.Bytes(), nil
}

// cleanNodes returns nodes with the run-time fields of their data left
// out, as a JSON array.
func cleanNodes(nodes []Node) (jsontext.Value, error) {
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		n.Data = bytes.TrimSpace(n.Data)
		if len(n.Data) > 0 && n.Data.Kind() == '{' {
			ms, err := readMembers(n.Data)
			if err != nil {
				return nil, fmt.Errorf("/nodes/%d/data: %w", i, err)
			}
			kept := ms[:0]
			for _, m := range ms {
				if !runtimeFields[m.name] {
					kept = append(kept, m)
				}
			}
			if n.Data, err = compactMembers(kept); err != nil {
				return nil, fmt.Errorf("/nodes/%d/data: %w", i, err)
			}
		}
		out[i] = n
	}
	b, err := json.Marshal(out)
	return b, err
}

// compactMembers writes an object of members on one line.
func compactMembers(ms []member) (jsontext.Value, error) {
	var b bytes.Buffer
	enc := jsontext.NewEncoder(&b)
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return nil, err
	}
	for _, m := range ms {
		if err := enc.WriteToken(jsontext.String(m.name)); err != nil {
			return nil, err
		}
		if err := enc.WriteValue(m.value); err != nil {
			return nil, err
		}
	}
	if err := enc.WriteToken(jsontext.EndObject); err != nil {
		return nil, err
	}
	return jsontext.Value(bytes.TrimSpace(b.Bytes())), nil
}
