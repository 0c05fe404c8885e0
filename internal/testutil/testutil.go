// Package testutil holds helpers shared by tests: JSON documents changed
// at JSON pointers, and the tools tests need from the machine.
package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Patch changes a JSON document at an RFC 6901 pointer: it sets Value, or
// deletes the key when Del is true.
type Patch struct {
	Ptr   string
	Value any
	Del   bool
}

// Set returns a Patch that sets the value at ptr.
func Set(ptr string, value any) Patch { return Patch{Ptr: ptr, Value: value} }

// Del returns a Patch that deletes the key at ptr.
func Del(ptr string) Patch { return Patch{Ptr: ptr, Del: true} }

// Apply applies patches to a document decoded with encoding/json.
func Apply(t testing.TB, doc any, patches ...Patch) any {
	t.Helper()
	for _, p := range patches {
		tokens := strings.Split(p.Ptr, "/")[1:]
		for i, tok := range tokens {
			tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		}
		parent := doc
		for _, tok := range tokens[:len(tokens)-1] {
			parent = child(t, p.Ptr, parent, tok)
		}
		last := tokens[len(tokens)-1]
		switch c := parent.(type) {
		case map[string]any:
			if p.Del {
				delete(c, last)
			} else {
				c[last] = p.Value
			}
		case []any:
			c[index(t, p.Ptr, c, last)] = p.Value
		default:
			t.Fatalf("patch %s: cannot descend into %T", p.Ptr, parent)
		}
	}
	return doc
}

func child(t testing.TB, ptr string, v any, tok string) any {
	t.Helper()
	switch c := v.(type) {
	case map[string]any:
		return c[tok]
	case []any:
		return c[index(t, ptr, c, tok)]
	}
	t.Fatalf("patch %s: cannot descend into %T at %q", ptr, v, tok)
	return nil
}

func index(t testing.TB, ptr string, s []any, tok string) int {
	t.Helper()
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || i >= len(s) {
		t.Fatalf("patch %s: bad index %q", ptr, tok)
	}
	return i
}

// LoadJSON reads and decodes a JSON file.
func LoadJSON(t testing.TB, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// Marshal encodes a document, failing the test on error.
func Marshal(t testing.TB, doc any) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Tool returns the path of a command-line tool a test needs. Where it is
// missing the test is skipped with a loud reason, except in CI (CI=true),
// where a missing tool fails the test: CI must run every test.
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := "SKIPPED LOUDLY: " + name + " is not on PATH (" + install + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run this test")
	}
	t.Skip(msg)
	return ""
}
