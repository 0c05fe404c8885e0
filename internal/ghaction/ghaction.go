// Package ghaction speaks to a GitHub Actions runner: workflow commands
// that annotate files, and step outputs.
package ghaction

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/slipway-gitops/slipway/internal/jsonpos"
	"github.com/slipway-gitops/slipway/workflow"
)

// Level is how an annotation shows: as an error or a warning.
type Level string

// Levels.
const (
	Error   Level = "error"
	Warning Level = "warning"
)

// Annotation is an annotation on a place in a file; Line and Column are
// 1-based, and 0 when unknown.
type Annotation struct {
	// Level is Error when empty.
	Level   Level
	File    string
	Line    int
	Column  int
	Title   string
	Message string
}

// String formats the annotation as the runner's workflow command:
// ::error file=F,line=L,col=C,title=T::MESSAGE (or ::warning).
func (a Annotation) String() string {
	var props []string
	if a.File != "" {
		props = append(props, "file="+escapeProperty(a.File))
	}
	if a.Line > 0 {
		props = append(props, fmt.Sprintf("line=%d", a.Line))
		if a.Column > 0 {
			props = append(props, fmt.Sprintf("col=%d", a.Column))
		}
	}
	if a.Title != "" {
		props = append(props, "title="+escapeProperty(a.Title))
	}
	cmd := "::" + string(cmp.Or(a.Level, Error))
	if len(props) > 0 {
		cmd += " " + strings.Join(props, ",")
	}
	return cmd + "::" + escapeData(a.Message)
}

// escapeData escapes a command's message, as the runner unescapes it.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a command's property value.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Annotate places each problem at the line and column of its value:
// read returns a file's content by its path relative to the repository
// (the problem's File), dir is the repository's path as the annotations
// name files (relative to the root of the checkout; "." for the root). A
// value that is missing is shown at its nearest enclosing value; a file
// that is not JSON, at the place where it stops being JSON.
func Annotate(problems workflow.Errors, dir string, read func(file string) ([]byte, error)) []Annotation {
	l := NewLocator(dir, read)
	out := make([]Annotation, 0, len(problems))
	for _, p := range problems {
		a := Annotation{Title: title(p), Message: p.Message}
		if p.File != "" {
			a.File, a.Line, a.Column = l.Locate(p.File, p.Pointer)
		}
		out = append(out, a)
	}
	return out
}

// Locator finds the places of JSON pointers in a repository's files,
// reading and indexing each file once.
type Locator struct {
	dir     string
	read    func(file string) ([]byte, error)
	indexes map[string]*jsonpos.Index
	syntax  map[string]*jsonpos.SyntaxError
}

// NewLocator returns a Locator over the files read returns by their
// paths relative to the repository, which is at dir in the checkout.
func NewLocator(dir string, read func(file string) ([]byte, error)) *Locator {
	return &Locator{dir: dir, read: read, indexes: map[string]*jsonpos.Index{}, syntax: map[string]*jsonpos.SyntaxError{}}
}

// Locate returns the path of file in the checkout and the line and
// column of the value at pointer in it: of its nearest enclosing value
// when it is missing, of where the file stops being JSON when it is not
// JSON, and 0 and 0 when the file cannot be read.
func (l *Locator) Locate(file, pointer string) (string, int, int) {
	idx, seen := l.indexes[file]
	if !seen {
		if data, err := l.read(file); err == nil {
			var parseErr error
			idx, parseErr = jsonpos.Parse(data)
			var se *jsonpos.SyntaxError
			if errors.As(parseErr, &se) {
				l.syntax[file] = se
			}
		}
		l.indexes[file] = idx
	}
	switch {
	case idx != nil:
		pos, _ := idx.Find(pointer)
		return path.Join(l.dir, file), pos.Line, pos.Column
	case l.syntax[file] != nil:
		return path.Join(l.dir, file), l.syntax[file].Line, l.syntax[file].Column
	}
	return path.Join(l.dir, file), 0, 0
}

// title names the place of a problem: its pointer and node.
func title(p *workflow.Error) string {
	t := "slipway"
	if p.File != "" {
		t += ": " + p.File
	}
	if p.Pointer != "" {
		t += " " + p.Pointer
	}
	if p.NodeID != "" {
		t += fmt.Sprintf(" (node %q)", p.NodeID)
	}
	return t
}

// WriteOutput appends a step output to w, the file $GITHUB_OUTPUT names.
// Values are one line.
func WriteOutput(w io.Writer, name, value string) error {
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("output %s: the value has a line break", name)
	}
	_, err := fmt.Fprintf(w, "%s=%s\n", name, value)
	return err
}
