// Package jsonpos finds where the values of a JSON document are: it maps
// RFC 6901 JSON pointers to byte offsets, lines and columns, so that a
// problem found at a pointer can be shown at its place in the file.
package jsonpos

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects, as encoding/json does.
const MaxDepth = 10000

// Position is where a value starts.
type Position struct {
	// Offset counts the bytes before the value.
	Offset int
	// Line is the 1-based line of the value.
	Line int
	// Column is the 1-based column of the value, counted in characters
	// (UTF-8 sequences), as editors and GitHub's annotations count them.
	Column int
}

// SyntaxError is a document that is not JSON; Position is where the
// parser stopped.
type SyntaxError struct {
	Position
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Index holds the positions of every value of a document.
type Index struct {
	data []byte
	root *node
}

// node is one value: its offset and, for objects and arrays, its members.
type node struct {
	offset int
	keys   map[string]*node // object members; nil for other values
	elems  []*node          // array elements
}

// Parse indexes a JSON document. It accepts exactly what encoding/json
// accepts; of duplicate object keys, the last one counts, as in
// encoding/json.
func Parse(data []byte) (*Index, error) {
	p := &parser{data: data}
	p.space()
	root, err := p.value(0)
	if err == nil {
		p.space()
		if p.i < len(data) {
			err = p.fail("unexpected data after the top-level value")
		}
	}
	if err != nil {
		return nil, err
	}
	return &Index{data: data, root: root}, nil
}

// Find returns the position of the value at pointer ptr. When there is no
// such value (a required field is missing, say), it returns the position
// of the deepest value on the way, and the pointer of that value.
func (x *Index) Find(ptr string) (Position, string) {
	n, found := x.root, ""
	if ptr != "" && strings.HasPrefix(ptr, "/") {
		for _, tok := range strings.Split(ptr[1:], "/") {
			next := n.child(unescape(tok))
			if next == nil {
				break
			}
			n, found = next, found+"/"+tok
		}
	}
	return positionAt(x.data, n.offset), found
}

func positionAt(data []byte, offset int) Position {
	offset = min(max(offset, 0), len(data))
	line, start := 1, 0
	for i, b := range data[:offset] {
		if b == '\n' {
			line, start = line+1, i+1
		}
	}
	return Position{Offset: offset, Line: line, Column: utf8.RuneCount(data[start:offset]) + 1}
}

func (n *node) child(tok string) *node {
	if n.keys != nil {
		return n.keys[tok]
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || i >= len(n.elems) || strconv.Itoa(i) != tok {
		return nil
	}
	return n.elems[i]
}

// unescape decodes a reference token: ~1 is "/", ~0 is "~".
func unescape(tok string) string {
	if !strings.Contains(tok, "~") {
		return tok
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
}

// parser is a recursive-descent JSON parser that records where values
// start.
type parser struct {
	data []byte
	i    int
}

func (p *parser) fail(format string, args ...any) error {
	return &SyntaxError{Position: positionAt(p.data, p.i), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, p.fail("nested deeper than %d", MaxDepth)
	}
	if p.i >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	n := &node{offset: p.i}
	switch c := p.data[p.i]; {
	case c == '{':
		return n, p.object(n, depth)
	case c == '[':
		return n, p.array(n, depth)
	case c == '"':
		_, err := p.str()
		return n, err
	case c == '-' || c >= '0' && c <= '9':
		return n, p.number()
	case c == 't':
		return n, p.literal("true")
	case c == 'f':
		return n, p.literal("false")
	case c == 'n':
		return n, p.literal("null")
	default:
		return nil, p.fail("invalid character %q looking for a value", rune(c))
	}
}

func (p *parser) object(n *node, depth int) error {
	n.keys = map[string]*node{}
	p.i++ // {
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return p.fail("looking for an object key")
		}
		raw, err := p.str()
		if err != nil {
			return err
		}
		var key string
		if err := json.Unmarshal(raw, &key); err != nil {
			return p.fail("object key: %v", err)
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return p.fail("looking for ':' after an object key")
		}
		p.i++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		n.keys[key] = v
		if done, err := p.next('}'); done || err != nil {
			return err
		}
		p.space()
	}
}

func (p *parser) array(n *node, depth int) error {
	n.elems = []*node{}
	p.i++ // [
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		n.elems = append(n.elems, v)
		if done, err := p.next(']'); done || err != nil {
			return err
		}
		p.space()
	}
}

// next reads the ',' between members or the closing delimiter.
func (p *parser) next(closing byte) (bool, error) {
	p.space()
	if p.i >= len(p.data) {
		return false, p.fail("unexpected end of input")
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.fail("looking for ',' or %q", rune(closing))
}

// str reads a string and returns it with its quotes, undecoded.
func (p *parser) str() ([]byte, error) {
	start := p.i
	p.i++ // "
	for p.i < len(p.data) {
		switch c := p.data[p.i]; {
		case c == '"':
			p.i++
			return p.data[start:p.i], nil
		case c == '\\':
			p.i++
			if p.i >= len(p.data) {
				return nil, p.fail("unexpected end of input")
			}
			switch p.data[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				p.i++
				for range 4 {
					if p.i >= len(p.data) || !isHex(p.data[p.i]) {
						return nil, p.fail("invalid \\u escape")
					}
					p.i++
				}
			default:
				return nil, p.fail("invalid escape %q", rune(p.data[p.i]))
			}
		case c < 0x20:
			return nil, p.fail("control character %q in a string", rune(c))
		default:
			p.i++
		}
	}
	return nil, p.fail("unexpected end of input in a string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads a number as RFC 8259 defines it.
func (p *parser) number() error {
	digits := func() int {
		start := p.i
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
		}
		return p.i - start
	}
	if p.data[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.data) && p.data[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return p.fail("invalid number")
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.fail("invalid number: no digits after '.'")
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.fail("invalid number: no digits in the exponent")
		}
	}
	return nil
}

func (p *parser) literal(word string) error {
	if !strings.HasPrefix(string(p.data[p.i:min(p.i+len(word), len(p.data))]), word) {
		return p.fail("invalid literal, want %s", word)
	}
	p.i += len(word)
	return nil
}
