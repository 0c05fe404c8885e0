package workflow_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/workflow"
)

// BenchmarkDecode measures decoding and validating one workflow of 20
// nodes, the unit of a build: strict parsing, node checks, link
// resolution and link checks.
func BenchmarkDecode(b *testing.B) {
	data := sample.Workflow(1, 3)
	file := workflow.WorkflowFile("w001")
	for b.Loop() {
		if _, err := workflow.Decode(file, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFixtures measures decoding every workflow of
// fixtures/repo, which between them have every node kind and link kind.
func BenchmarkDecodeFixtures(b *testing.B) {
	files, err := filepath.Glob("../fixtures/repo/workflows/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("no fixtures: %v", err)
	}
	data := make([][]byte, len(files))
	for i, f := range files {
		if data[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		for i, f := range files {
			if _, err := workflow.Decode(workflow.WorkflowsDir+"/"+filepath.Base(f), data[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
