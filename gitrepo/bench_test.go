package gitrepo

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// BenchmarkVersions lists the versions of a workflow changed by each of
// 1,000 commits, in a repository of 50 workflows.
func BenchmarkVersions(b *testing.B) {
	commits := []map[string][]byte{sample.Repo(50)}
	for i := range 999 {
		commits = append(commits, map[string][]byte{"workflows/w007.json": sample.Workflow(7, i+2)})
	}
	r, err := Open(b.Context(), gittest.FastImport(b, commits), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		vs, err := r.Versions(b.Context(), "main", "w007")
		if err != nil {
			b.Fatal(err)
		}
		if len(vs) != 1000 {
			b.Fatalf("%d versions, want 1000", len(vs))
		}
	}
}

// BenchmarkCompare compares two versions of a workflow of 1,000 nodes.
func BenchmarkCompare(b *testing.B) {
	dir := gittest.FastImport(b, []map[string][]byte{
		{"workflows/big.json": sample.Graph(1000, 0)},
		{"workflows/big.json": sample.Graph(1000, 1)},
	})
	r, err := Open(b.Context(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d, err := r.Compare(b.Context(), "main", "big", 1, 2)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.ModifiedNodes) != 50 {
			b.Fatalf("%d modified nodes, want 50", len(d.ModifiedNodes))
		}
	}
}

// BenchmarkReadTree reads every file of a commit of 50 workflows through
// go-git's walk of its tree: each file is a few object reads, each of
// them through the repository's storage.
func BenchmarkReadTree(b *testing.B) {
	files := sample.Repo(50)
	r, err := Open(b.Context(), gittest.FastImport(b, []map[string][]byte{files}), Options{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := r.Resolve("main")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		tree, err := c.Tree()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		err = tree.Files().ForEach(func(f *object.File) error {
			n++
			_, err := f.Contents()
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != len(files) {
			b.Fatalf("%d files, want %d", n, len(files))
		}
	}
}
