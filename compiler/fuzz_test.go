package compiler

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// FuzzCompile runs decode, validation, rendering and the kustomize check
// over one workflow file. Whatever the input, the compiler must not panic,
// and a build that succeeds must hold a kustomization for the workflow.
func FuzzCompile(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureRepo, "workflows", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			f.Fatal(err)
		}
		// Alone in a repository, a workflow may name no cluster or dependency.
		delete(doc, "cluster_id")
		delete(doc, "dependsOn")
		doc["name"] = "w"
		b, err = json.Marshal(doc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c := newCompiler(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := c.Build(t.Context(), source.Files{"workflows/w.json": data})
		if err != nil {
			if len(workflow.AsErrors(err)) == 0 {
				t.Fatalf("error without located problems: %v", err)
			}
			return
		}
		if res.Workflows[0].Status == workflow.StatusPublished {
			if _, ok := res.Tree["workflows/w/base/kustomization.yaml"]; !ok {
				t.Fatalf("published workflow without a base: %v", res.Tree.Paths())
			}
		}
	})
}
