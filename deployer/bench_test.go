package deployer

import (
	"testing"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// BenchmarkDeployOneChanged deploys a repository of 500 workflows after
// one of them changed, with a deployer that deployed it before, as the
// webhook service does.
func BenchmarkDeployOneChanged(b *testing.B) {
	dir := gittest.FastImport(b, []map[string][]byte{sample.Repo(500)})
	r, err := gitrepo.Open(b.Context(), dir, gitrepo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(r, r, c, Options{SourceBranch: "main", Branch: "deploy", Author: author})
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
		gittest.ImportCommits(b, dir, true, []map[string][]byte{{"workflows/w250.json": sample.Workflow(250, i+1)}})
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
