package canvas

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzMembers reads any document as a workflow file's members and writes
// them back: it never panics, and what it writes of an object is JSON
// that reads back as the same members.
func FuzzMembers(f *testing.F) {
	f.Add([]byte(`{"name": "shop", "status": "draft", "nodes": [], "edges": []}`))
	f.Add([]byte(`{"a": {"b": [1, 2, {"c": null}]}, "a": "dup"}`))
	f.Add([]byte(`{"\u00e9": "x"} {}`))
	f.Add([]byte(`[1]`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ms, err := readMembers(doc)
		if err != nil {
			return
		}
		out, err := writeMembers(ms, map[string]bool{"nodes": true})
		if err != nil {
			t.Fatalf("write %q: %v", doc, err)
		}
		if !json.Valid(out) {
			t.Fatalf("wrote invalid JSON %q of %q", out, doc)
		}
		again, err := readMembers(out)
		if err != nil || len(again) != len(ms) {
			t.Fatalf("read back %d members, %v; want %d", len(again), err, len(ms))
		}
		for i := range ms {
			if again[i].name != ms[i].name || !equalJSON(again[i].value, ms[i].value) {
				t.Fatalf("member %d: %s=%s, want %s=%s", i, again[i].name, again[i].value, ms[i].name, ms[i].value)
			}
		}
	})
}

// equalJSON reports whether two JSON values are the same but for
// whitespace.
func equalJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}
