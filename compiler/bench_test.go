package compiler

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/source"
)

func TestBenchWorkflowIsValid(t *testing.T) {
	t.Parallel()
	res := buildSource(t, source.Files(sample.Repo(3)))
	if got := strings.Count(string(sample.Workflow(0, 1)), `"position"`); got != 20 {
		t.Errorf("generated workflow has %d nodes, want 20", got)
	}
	if res.Objects == 0 {
		t.Error("no objects rendered")
	}
}

// BenchmarkCompile measures a full build of 500 workflows of 20 nodes:
// decode, validate, render, kustomize check of every overlay and cluster,
// and writing the tree to disk.
func BenchmarkCompile(b *testing.B) {
	src := source.Files(sample.Repo(500))
	dir := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		c := newCompiler(b)
		res, err := c.Build(b.Context(), src)
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Tree.WriteDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileOneChanged measures a build of the same repository after
// one workflow changed, on a compiler that built it before.
func BenchmarkCompileOneChanged(b *testing.B) {
	src := source.Files(sample.Repo(500))
	c := newCompiler(b)
	if _, err := c.Build(b.Context(), src); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		src["workflows/w250.json"] = sample.Workflow(250, 2+i%2)
		res, err := c.Build(b.Context(), src)
		if err != nil {
			b.Fatal(err)
		}
		if res.Rendered != 1 {
			b.Fatalf("rendered %d workflows, want 1", res.Rendered)
		}
	}
}

var benchRepo = flag.String("benchrepo", "", "write the generated 500-workflow repository into this directory (for whole-process measurements)")

// TestWriteBenchRepo writes the benchmark repository when -benchrepo asks.
func TestWriteBenchRepo(t *testing.T) {
	if *benchRepo == "" {
		t.Skip("no -benchrepo given")
	}
	for p, b := range sample.Repo(500) {
		full := filepath.Join(*benchRepo, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
