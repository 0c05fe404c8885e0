package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

func addFixtureSeeds(f *testing.F, dir string) {
	files, err := filepath.Glob(filepath.Join("../fixtures/repo", dir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures in %s: %v", dir, err)
	}
	if dir == "workflows" {
		// Workflows as KubeOrch's editor saves them.
		more, _ := filepath.Glob("../fixtures/kubeorch/workflows/*.json")
		files = append(files, more...)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkProblems holds every decode error to the promise of located
// messages that name the file.
func checkProblems(t *testing.T, file string, err error) {
	problems := AsErrors(err)
	if len(problems) == 0 {
		t.Fatalf("error without located problems: %v", err)
	}
	for _, p := range problems {
		if p.File != file || !strings.HasPrefix(p.Error(), file+": ") {
			t.Fatalf("problem does not name %s: %v", file, p)
		}
		if p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/") {
			t.Fatalf("pointer %q is not a JSON pointer", p.Pointer)
		}
	}
}

func FuzzDecode(f *testing.F) {
	addFixtureSeeds(f, "workflows")
	f.Add([]byte(`{"name":"shop","status":"published","nodes":[{"id":"a","type":"plugin","position":{"x":0,"y":0},"data":{"name":"x","apiVersion":"v1","kind":"K","_pluginFields":[{"id":"a.b","type":"number"}],"a.b":1}}],"edges":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "workflows/shop.json"
		wf, err := Decode(file, data)
		if err != nil {
			checkProblems(t, file, err)
			return
		}
		for _, l := range wf.Validated().Links() {
			if l.From == nil || l.To == nil || l.From.Spec == nil || l.To.Spec == nil {
				t.Fatalf("link %+v has an unresolved end", l)
			}
		}
	})
}

func FuzzDecodeCluster(f *testing.F) {
	addFixtureSeeds(f, "clusters")
	f.Add([]byte(`{"name": "prod", "flux": {"tenancy": true, "timeout": "10m"}, "allowedNamespaces": ["team-a-*", "shop", "[a-c]?"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "clusters/prod.json"
		cl, err := DecodeCluster(file, data)
		if err != nil {
			checkProblems(t, file, err)
			return
		}
		cl.AllowsNamespace("team-a-web")
	})
}

// FuzzDiff parses two graphs leniently and compares them: no input may
// panic, and a graph never differs from itself.
func FuzzDiff(f *testing.F) {
	addFixtureSeeds(f, "workflows")
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGraph(data)
		if err != nil {
			return
		}
		if d := Diff(g, g); !d.Empty() {
			t.Fatalf("a graph differs from itself: %+v", d)
		}
		Diff(&Graph{}, g)
		DiffFields(data, []byte(`{}`))
	})
}

// FuzzRedact compares two versions of a workflow file, as the API and a
// review do: no secret value of either version shows in the diff. The
// values that sit where a secret goes (under a credential name, the value
// of an object so named, a secret node's data) are replaced by markers
// first, which must not show; values that carry a secret themselves must
// not show either.
func FuzzRedact(f *testing.F) {
	for _, tc := range testutil.RedactionCases(f, "testdata/redaction.json") {
		f.Add([]byte(tc.From), []byte(tc.To))
	}
	f.Fuzz(func(t *testing.T, from, to []byte) {
		var docs [2]map[string]any
		for i, data := range [][]byte{from, to} {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			if dec.Decode(&docs[i]) != nil || docs[i] == nil {
				return
			}
		}
		if all, _ := json.Marshal(docs); bytes.Contains(all, []byte("zzsecret")) {
			return // the markers must be the file's only ones
		}
		m := secretMarker{}
		secretNodes := pairedSecretNodes(docs)
		var versions [2][]byte
		for i, doc := range docs {
			m.mark(doc, secretNodes[i])
			var err error
			if versions[i], err = json.Marshal(doc); err != nil {
				t.Fatal(err)
			}
		}
		a, errA := ParseGraph(versions[0])
		b, errB := ParseGraph(versions[1])
		if errA != nil || errB != nil {
			return
		}
		shown, err := json.Marshal([]any{Diff(a, b), DiffFields(versions[0], versions[1])})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(shown, []byte("zzsecret")) {
			t.Fatalf("the diff shows a secret value:\n%s\nof\n%s\n%s", shown, versions[0], versions[1])
		}
		var values, names []string
		for _, doc := range docs {
			collectStrings(doc, &values, &names)
			names = append(names, identifiers(doc)...)
		}
		for _, s := range values {
			if HoldsSecret(s) == "" || shownElsewhere(s, values, names) {
				continue
			}
			enc, _ := json.Marshal(s)
			if bytes.Contains(shown, enc[1:len(enc)-1]) {
				t.Fatalf("the diff shows %q, which %s:\n%s", s, HoldsSecret(s), shown)
			}
		}
	})
}

// secretMarker replaces values by markers, the same marker for the same
// value, so that what is equal stays equal.
type secretMarker map[string]string

func (m secretMarker) marker(v any) string {
	k := fmt.Sprintf("%T %v", v, v)
	if _, ok := m[k]; !ok {
		m[k] = fmt.Sprintf("zzsecret%dzz", len(m))
	}
	return m[k]
}

// mark replaces, in doc, the values that sit where a secret goes. A
// node is a secret node when secret[i] is set for the i-th node.
func (m secretMarker) mark(doc map[string]any, secret []bool) {
	for k, v := range doc {
		if k != "nodes" && k != "edges" {
			doc[k] = m.walk(k, v, false)
		}
	}
	nodes, _ := doc["nodes"].([]any)
	for i, n := range nodes {
		n, _ := n.(map[string]any)
		data, _ := n["data"].(map[string]any)
		if data == nil {
			continue
		}
		if !secret[i] {
			n["data"] = m.walk("", data, false)
			continue
		}
		for k, v := range data {
			switch k {
			case "name", "namespace", "secretType", "mountPath":
				data[k] = m.walk(k, v, false)
			case "keys":
				keys, _ := v.([]any)
				for _, key := range keys {
					if key, ok := key.(map[string]any); ok {
						for kk, x := range key {
							key[kk] = m.walk(kk, x, kk != "id" && kk != "name")
						}
					}
				}
				if keys == nil {
					data[k] = m.walk(k, v, true)
				}
			default:
				data[k] = m.walk(k, v, true)
			}
		}
	}
}

// walk returns v, found under name, with its secret values marked; every
// scalar is one when hidden.
func (m secretMarker) walk(name string, v any, hidden bool) any {
	hidden = hidden || name == "stringData" || LooksLikeCredential(name)
	switch v := v.(type) {
	case map[string]any:
		named, _ := v["name"].(string)
		for k, x := range v {
			v[k] = m.walk(k, x, hidden || k == "value" && LooksLikeCredential(named))
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = m.walk(name, x, hidden)
		}
		return v
	case nil:
		return nil
	}
	if hidden {
		return m.marker(v)
	}
	return v
}

// pairedSecretNodes says of each node of two versions whether it is a
// secret node: it, or the node it is compared with, is of type secret or
// renders a Secret. The k-th node of an id is compared with the k-th of
// the other version, as Diff does.
func pairedSecretNodes(docs [2]map[string]any) [2][]bool {
	type key struct {
		id string
		k  int
	}
	var keys [2][]key
	var own [2][]bool
	secretByKey := map[key]bool{}
	for i, doc := range docs {
		nodes, _ := doc["nodes"].([]any)
		seen := map[string]int{}
		for _, n := range nodes {
			n, _ := n.(map[string]any)
			id, _ := n["id"].(string)
			data, _ := n["data"].(map[string]any)
			k := key{id, seen[id]}
			seen[id]++
			s := n["type"] == string(KindSecret) || data["kind"] == "Secret"
			keys[i], own[i] = append(keys[i], k), append(own[i], s)
			secretByKey[k] = secretByKey[k] || s
		}
	}
	var out [2][]bool
	for i := range docs {
		for _, k := range keys[i] {
			out[i] = append(out[i], secretByKey[k])
		}
	}
	return out
}

// collectStrings appends every string of v to values, and every object
// key, which a diff shows in its paths, to keys.
func collectStrings(v any, values, keys *[]string) {
	switch v := v.(type) {
	case string:
		*values = append(*values, v)
	case map[string]any:
		for k, x := range v {
			*keys = append(*keys, k)
			collectStrings(x, values, keys)
		}
	case []any:
		for _, x := range v {
			collectStrings(x, values, keys)
		}
	}
}

// identifiers returns the strings of doc that a diff shows as they are,
// to name what changed: node ids, types and names, edge ids and ends.
func identifiers(doc map[string]any) []string {
	var out []string
	for _, list := range []string{"nodes", "edges"} {
		items, _ := doc[list].([]any)
		for _, it := range items {
			it, _ := it.(map[string]any)
			data, _ := it["data"].(map[string]any)
			for _, v := range []any{it["id"], it["type"], it["source"], it["target"], data["name"]} {
				if s, ok := v.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// shownElsewhere reports whether s is part of a name a diff shows by
// design or of a value that carries no secret.
func shownElsewhere(s string, values, names []string) bool {
	for _, n := range names {
		if strings.Contains(n, s) {
			return true
		}
	}
	for _, v := range values {
		if v != s && strings.Contains(v, s) && HoldsSecret(v) == "" {
			return true
		}
	}
	return false
}
