package workflow

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid is matched by errors.Is for every validation problem.
var ErrInvalid = errors.New("invalid workflow")

// Error is one validation problem, located by file, JSON pointer and node.
type Error struct {
	// File is the path of the file, relative to the repository root.
	File string `json:"file"`
	// Pointer is the RFC 6901 JSON pointer of the offending value.
	Pointer string `json:"pointer,omitempty"`
	// NodeID is the id of the node the value belongs to, if any.
	NodeID string `json:"node,omitempty"`
	// Message says what is wrong and, where it helps, what to do.
	Message string `json:"message"`
}

// Error implements error:
// `workflows/shop.json: /nodes/3/data/port: must be 1..65535 (node "api")`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	if e.Pointer != "" {
		b.WriteString(e.Pointer)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.NodeID != "" {
		fmt.Fprintf(&b, " (node %q)", e.NodeID)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found, in file and pointer order.
type Errors []*Error

// Error implements error: one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As access to each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sort orders the problems by file, then by the order of their pointers.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		return pointerLess(es[i].Pointer, es[j].Pointer)
	})
}

// pointerLess orders JSON pointers token by token, numbers numerically.
func pointerLess(a, b string) bool {
	at, bt := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(at) && i < len(bt); i++ {
		if at[i] == bt[i] {
			continue
		}
		an, aerr := strconv.Atoi(at[i])
		bn, berr := strconv.Atoi(bt[i])
		if aerr == nil && berr == nil && an != bn {
			return an < bn
		}
		return at[i] < bt[i]
	}
	return len(at) < len(bt)
}

// AsErrors returns the problems in err, if it holds any.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return nil
}

// pointer builds JSON pointers, escaping tokens as RFC 6901 requires.
func pointer(base string, tokens ...any) string {
	b := make([]byte, 0, len(base)+8*len(tokens))
	b = append(b, base...)
	for _, t := range tokens {
		b = append(b, '/')
		switch v := t.(type) {
		case string:
			if strings.ContainsAny(v, "~/") {
				v = strings.ReplaceAll(strings.ReplaceAll(v, "~", "~0"), "/", "~1")
			}
			b = append(b, v...)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		default:
			b = fmt.Append(b, v)
		}
	}
	return string(b)
}

// maxProblems bounds the problems and the warnings kept of one file: a
// file may be written to have one at every value it holds, and problems
// take far more memory than the values do. Past it, problems are counted,
// and said in one more (see collector.err).
const maxProblems = 1000

// collector gathers the problems of one file.
type collector struct {
	file string
	errs Errors
	// problems counts the problems added, kept in errs or not.
	problems int
	// draft turns the problems added with canvasDefault into warnings.
	draft    bool
	warnings Errors
	ignored  []Ignored
}

// canvasDefault records a problem that a new canvas node has until its
// user fills it in (an empty image, an unnamed secret key, an unlinked
// hpa): a warning in a draft, an error in a workflow to be deployed.
func (c *collector) canvasDefault(ptr, nodeID, format string, args ...any) {
	if !c.draft {
		c.add(ptr, nodeID, format, args...)
		return
	}
	if len(c.warnings) < maxProblems {
		c.warnings = append(c.warnings, &Error{File: c.file, Pointer: ptr, NodeID: nodeID, Message: fmt.Sprintf(format, args...) + " (a warning in a draft; an error once published)"})
	}
}

// warn records a warning: something that works as written but may not do
// what its user expects, or that Slipway renders differently from the
// editor's backend.
func (c *collector) warn(ptr, nodeID, format string, args ...any) {
	if len(c.warnings) < maxProblems {
		c.warnings = append(c.warnings, &Error{File: c.file, Pointer: ptr, NodeID: nodeID, Message: fmt.Sprintf(format, args...)})
	}
}

// add records a problem at a pointer, for a node (nodeID may be empty).
func (c *collector) add(ptr, nodeID, format string, args ...any) {
	c.problems++
	if len(c.errs) < maxProblems {
		c.errs = append(c.errs, &Error{File: c.file, Pointer: ptr, NodeID: nodeID, Message: fmt.Sprintf(format, args...)})
	}
}

// err returns the problems as an error, or nil; past maxProblems, the
// last one says how many more there are.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	c.errs.Sort()
	if more := c.problems - len(c.errs); more > 0 {
		return append(c.errs, &Error{File: c.file, Message: fmt.Sprintf("%d more problems are not listed; the first %d are", more, len(c.errs))})
	}
	return c.errs
}
