package gitrepo

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"testing"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// fastImport builds a repository from a stream of commits with git
// fast-import, much faster than one git commit per commit; each commit
// sets the given files.
func fastImport(b *testing.B, commits []map[string][]byte) string {
	b.Helper()
	testutil.Tool(b, "git", "apt-get install git")
	dir := b.TempDir()
	gittest.Git(b, dir, "init", "-q", "--bare", "-b", "main")
	importCommits(b, dir, false, commits)
	return dir
}

// importCommits adds commits to main with git fast-import, on top of the
// existing main when onTop is set.
func importCommits(b *testing.B, dir string, onTop bool, commits []map[string][]byte) {
	b.Helper()
	var s bytes.Buffer
	for i, files := range commits {
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata <<EOT\nCommit %d\nEOT\n", 1700000000+i, i)
		if i == 0 && onTop {
			fmt.Fprintf(&s, "from refs/heads/main^0\n")
		}
		paths := make([]string, 0, len(files))
		for p := range files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", p, len(files[p]), files[p])
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, gittest.Env(), &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fast-import: %v\n%s", err, out)
	}
}

// BenchmarkVersions lists the versions of a workflow changed by each of
// 1,000 commits, in a repository of 50 workflows.
func BenchmarkVersions(b *testing.B) {
	commits := []map[string][]byte{sample.Repo(50)}
	for i := range 999 {
		commits = append(commits, map[string][]byte{"workflows/w007.json": sample.Workflow(7, i+2)})
	}
	r, err := Open(b.Context(), fastImport(b, commits), Options{})
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
	dir := fastImport(b, []map[string][]byte{
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

// BenchmarkDeployOneChanged deploys a repository of 500 workflows after
// one of them changed, with a deployer that deployed it before, as the
// webhook service does.
func BenchmarkDeployOneChanged(b *testing.B) {
	dir := fastImport(b, []map[string][]byte{sample.Repo(500)})
	r, err := Open(b.Context(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDeployer(r, r, c, DeployOptions{SourceBranch: "main", Branch: "deploy", Author: author})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Deploy(b.Context()); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		importCommits(b, dir, true, []map[string][]byte{{"workflows/w250.json": sample.Workflow(250, i+1)}})
		b.StartTimer()
		res, err := d.Deploy(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if !res.Committed {
			b.Fatal("no deploy commit")
		}
	}
}
