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

// Apply applies patches to a document decoded with encoding/json. The
// last token "-" appends to an array, as in RFC 6902.
func Apply(t testing.TB, doc any, patches ...Patch) any {
	t.Helper()
	for _, p := range patches {
		tokens := strings.Split(p.Ptr, "/")[1:]
		for i, tok := range tokens {
			tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		}
		doc = apply(t, p, doc, tokens)
	}
	return doc
}

// apply returns v with the patch applied at tokens below it.
func apply(t testing.TB, p Patch, v any, tokens []string) any {
	t.Helper()
	tok, rest := tokens[0], tokens[1:]
	switch c := v.(type) {
	case map[string]any:
		switch {
		case len(rest) > 0:
			c[tok] = apply(t, p, c[tok], rest)
		case p.Del:
			delete(c, tok)
		default:
			c[tok] = p.Value
		}
		return c
	case []any:
		if tok == "-" && len(rest) == 0 {
			return append(c, p.Value)
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(c) {
			t.Fatalf("patch %s: bad index %q", p.Ptr, tok)
		}
		if len(rest) > 0 {
			c[i] = apply(t, p, c[i], rest)
		} else {
			c[i] = p.Value
		}
		return c
	}
	t.Fatalf("patch %s: cannot descend into %T at %q", p.Ptr, v, tok)
	return nil
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
