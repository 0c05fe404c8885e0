package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// nested is a small workflow file as an editor writes it.
const nested = `{
  "name": "shop",
  "nodes": [
    {
      "id": "api",
      "data": {"port": 70000, "env": [{"name": "A/B", "value": "x"}]}
    },
    {"id": "ö", "data": {"tags": {"a~b": "ünïcode", "": 1}}}
  ]
}
`

func TestFind(t *testing.T) {
	t.Parallel()
	minified := compact(t, nested)
	for _, tc := range []struct {
		name, doc, ptr  string
		line, col       int
		found           string
		wantValuePrefix string
	}{
		{"root", nested, "", 1, 1, "", "{"},
		{"top-level key", nested, "/name", 2, 11, "/name", `"shop"`},
		{"array element", nested, "/nodes/1", 8, 5, "/nodes/1", `{"id": "ö"`},
		{"deep value", nested, "/nodes/0/data/port", 6, 24, "/nodes/0/data/port", "70000"},
		{"escaped slash", nested, "/nodes/0/data/env/0/name", 6, 48, "/nodes/0/data/env/0/name", `"A/B"`},
		{"escaped tilde, columns in characters", nested, "/nodes/1/data/tags/a~0b", 8, 42, "/nodes/1/data/tags/a~0b", `"ünïcode"`},
		{"empty key", nested, "/nodes/1/data/tags/", 8, 57, "/nodes/1/data/tags/", "1"},
		{"missing field falls back to its object", nested, "/nodes/0/data/image", 6, 15, "/nodes/0/data", `{"port"`},
		{"index out of range", nested, "/nodes/7/id", 3, 12, "/nodes", "["},
		{"index with a leading zero", nested, "/nodes/01", 3, 12, "/nodes", "["},
		{"not a pointer", nested, "nodes", 1, 1, "", "{"},
		{"minified deep value", minified, "/nodes/0/data/port", 1, 52, "/nodes/0/data/port", "70000"},
		{"minified element", minified, "/nodes/0/data/env/0", 1, 65, "/nodes/0/data/env/0", `{"name":"A/B"`},
		{"minified unicode", minified, "/nodes/1/data/tags/a~0b", 1, 127, "/nodes/1/data/tags/a~0b", `"ünïcode"`},
		{"duplicate key: the last counts", `{"a": {"x": 1}, "a": [2]}`, "/a/0", 1, 23, "/a/0", "2"},
		{"duplicate key drops the old members", `{"a": {"x": 1}, "a": [2]}`, "/a/x", 1, 22, "/a", "[2]"},
		{"windows line ends", "{\r\n  \"a\": true\r\n}", "/a", 2, 8, "/a", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			pos, found := x.Find(tc.ptr)
			if pos.Line != tc.line || pos.Column != tc.col || found != tc.found {
				t.Errorf("Find(%q) = line %d, column %d at %q; want line %d, column %d at %q", tc.ptr, pos.Line, pos.Column, found, tc.line, tc.col, tc.found)
			}
			if !strings.HasPrefix(tc.doc[pos.Offset:], tc.wantValuePrefix) {
				t.Errorf("offset %d points at %.20q, want %q", pos.Offset, tc.doc[pos.Offset:], tc.wantValuePrefix)
			}
		})
	}
}

func compact(t *testing.T, doc string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSyntaxErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		line, col int
	}{
		{"empty", "", 1, 1},
		{"trailing comma", "{\n  \"a\": 1,\n}", 3, 1},
		{"missing colon", `{"a" 1}`, 1, 6},
		{"bad literal", "[\n tru]", 2, 2},
		{"bad number", `[01]`, 1, 3},
		{"bad escape", `["\x"]`, 1, 4},
		{"control character", "[\"a\tb\"]", 1, 4},
		{"trailing data", `{} {}`, 1, 4},
		{"unterminated string", `["abc`, 1, 6},
		{"too deep", strings.Repeat("[", MaxDepth+2), 1, MaxDepth + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.doc))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse = %v, want a *SyntaxError", err)
			}
			if se.Line != tc.line || se.Column != tc.col {
				t.Errorf("error at line %d, column %d (%v); want line %d, column %d", se.Line, se.Column, se, tc.line, tc.col)
			}
		})
	}
}

// FuzzParse holds Parse to encoding/json: it accepts the same documents,
// and every value it indexes decodes, from its offset, to the value
// encoding/json finds at its pointer.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{nested, `{"a":[1,2,{"b~/c":null}]}`, `[]`, `"x"`, `-0.5e+3`, `{"a":1,"a":{"b":2}}`, `[1,]`, "{\"\\u00e9\": \"\\ud83d\"}"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := Parse(data)
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("Parse error %v, but json.Valid says %v", err, valid)
		}
		if err != nil {
			return
		}
		// Numbers stay text: a valid document may hold one no float64
		// holds, such as 1e700.
		doc, err := decode(data)
		if err != nil {
			t.Fatal(err)
		}
		check(t, x, data, "", doc)
	})
}

// check compares every value under ptr with what the index finds.
func check(t *testing.T, x *Index, data []byte, ptr string, want any) {
	t.Helper()
	pos, found := x.Find(ptr)
	if found != ptr {
		t.Fatalf("Find(%q) found only %q", ptr, found)
	}
	got, err := decode(data[pos.Offset:])
	if err != nil {
		t.Fatalf("value at %q (offset %d) does not decode: %v", ptr, pos.Offset, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("value at %q is %v, want %v", ptr, got, want)
	}
	switch v := want.(type) {
	case map[string]any:
		for k, sub := range v {
			check(t, x, data, ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), sub)
		}
	case []any:
		for i, sub := range v {
			check(t, x, data, ptr+"/"+strconv.Itoa(i), sub)
		}
	}
}

// decode reads the first JSON value of data, keeping numbers as json.Number.
func decode(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
