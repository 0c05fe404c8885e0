package workflow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "clusters/prod.json"
		if _, err := DecodeCluster(file, data); err != nil {
			checkProblems(t, file, err)
		}
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
