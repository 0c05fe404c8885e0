// Package deploytest commits fixture workflows to a real git repository
// and deploys them with the real compiler, for tests.
package deploytest

import (
	"testing"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// Deploy commits the workflows repository in dir to branch main of a new
// repository, pushes it to the bare repository bare (unless bare is ""),
// and deploys it to the branch deploy there. It returns the repository
// the deploy went to and the deploy's result.
func Deploy(t testing.TB, dir, bare string) (*gitrepo.Repo, *deployer.Result) {
	t.Helper()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, dir, work, ""))
	at := work
	if bare != "" {
		gittest.InitBare(t, bare)
		gittest.Git(t, work, "push", "-q", bare, "main")
		at = bare
	}
	repo, err := gitrepo.Open(t.Context(), at, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployer.New(repo, repo, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return repo, res
}
