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
// repository and deploys it as DeployWork does.
func Deploy(t testing.TB, dir, bare string) (*gitrepo.Repo, *deployer.Result) {
	t.Helper()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, dir, work, ""))
	return DeployWork(t, work, bare)
}

// DeployWork pushes branch main of the working repository work to the
// new bare repository bare (unless bare is ""), and deploys it to the
// branch deploy there. It returns the repository the deploy went to and
// the deploy's result.
func DeployWork(t testing.TB, work, bare string) (*gitrepo.Repo, *deployer.Result) {
	t.Helper()
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
	res, err := Deployer(t, repo).Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return repo, res
}

// Deployer deploys branch main of repo to its branch deploy with the real
// compiler.
func Deployer(t testing.TB, repo *gitrepo.Repo) *deployer.Deployer {
	t.Helper()
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployer.New(repo, repo, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
