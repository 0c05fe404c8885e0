package deployer

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/source"
)

const fixtureRepo = "../fixtures/repo"

var author = gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}

func open(t *testing.T, source string) *gitrepo.Repo {
	t.Helper()
	r, err := gitrepo.Open(t.Context(), source, gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// deployedTree reads the files of the deploy branch with the git CLI.
func deployedTree(t *testing.T, dir, branch string) compiler.Tree {
	t.Helper()
	tree := compiler.Tree{}
	for _, p := range strings.Split(gittest.Git(t, dir, "ls-tree", "-r", "--name-only", branch), "\n") {
		if p == "" {
			continue
		}
		out, err := gittest.GitE(t.Context(), dir, "cat-file", "blob", branch+":"+p)
		if err != nil {
			t.Fatal(err)
		}
		tree[p] = []byte(out + "\n")
	}
	return tree
}

// compileDir compiles the source files of a commit, read with the git CLI.
func compileDir(t *testing.T, dir, rev string) compiler.Tree {
	t.Helper()
	src := source.Files{}
	for _, p := range strings.Split(gittest.Git(t, dir, "ls-tree", "-r", "--name-only", rev), "\n") {
		if strings.HasPrefix(p, "workflows/") || strings.HasPrefix(p, "clusters/") {
			src[p] = []byte(gittest.Git(t, dir, "cat-file", "blob", rev+":"+p))
		}
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Build(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	return res.Tree
}

func newDeployer(t *testing.T, source, target *gitrepo.Repo) *Deployer {
	t.Helper()
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(source, target, c, Options{SourceBranch: "main", Branch: "deploy", Author: author})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeployLocal(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	r := open(t, dir)
	d := newDeployer(t, r, r)
	first, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Committed {
		t.Fatal("first deploy made no commit")
	}
	gittest.Fsck(t, dir)
	if diff := cmp.Diff(compileDir(t, dir, "main"), deployedTree(t, dir, "deploy")); diff != "" {
		t.Errorf("deploy branch differs from compile(main):\n%s", diff)
	}
	msg := gittest.Git(t, dir, "log", "-1", "--format=%B", "deploy")
	if !strings.Contains(msg, "Source-Commit: "+gittest.Git(t, dir, "rev-parse", "main")) {
		t.Errorf("deploy commit lacks the trailer:\n%s", msg)
	}
	if got := gittest.Git(t, dir, "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"); got != first.SourceCommit {
		t.Errorf("git reads trailer %q, want %s", got, first.SourceCommit)
	}

	again, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again.Committed || again.DeployCommit != first.DeployCommit {
		t.Errorf("unchanged source made a commit: %+v", again)
	}
	if again.Build != first.Build {
		t.Error("the deployer compiled an unchanged source again")
	}
	// A deployer that did not make the last deploy compiles, and finds
	// the tree unchanged.
	other, err := newDeployer(t, r, r).Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if other.Committed || other.DeployCommit != first.DeployCommit || other.Build == first.Build {
		t.Errorf("a second deployer of an unchanged source: %+v", other)
	}

	gittest.Commit(t, dir, "Archive batch", map[string][]byte{"workflows/batch.json": gittest.FixtureFile(t, fixtureRepo, "workflows/batch.json", testutil.Set("/status", "archived"))})
	next, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !next.Committed {
		t.Fatal("archiving a workflow made no deploy commit")
	}
	if got := gittest.Git(t, dir, "rev-parse", "deploy^"); got != first.DeployCommit {
		t.Errorf("deploy commit's parent is %s, want %s", got, first.DeployCommit)
	}
	if ls := gittest.Git(t, dir, "ls-tree", "-r", "--name-only", "deploy"); strings.Contains(ls, "workflows/batch/") || strings.Contains(ls, "clusters/staging/batch.yaml") {
		t.Errorf("archived workflow still deployed:\n%s", ls)
	}
	if !strings.Contains(gittest.Git(t, dir, "ls-tree", "-r", "--name-only", "deploy"), "clusters/staging/kustomization.yaml") {
		t.Error("the emptied cluster lost its kustomization; Flux would not prune it")
	}
	gittest.Fsck(t, dir)
	if diff := cmp.Diff(compileDir(t, dir, "main"), deployedTree(t, dir, "deploy")); diff != "" {
		t.Errorf("deploy branch differs from compile(main):\n%s", diff)
	}
	if st := gittest.Git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("deploy touched the working tree: %s", st)
	}
}

// TestDeployRollback moves the source branch back to a commit deployed
// before: the deploy branch gets a new commit whose tree is compile of
// that commit again, rather than refusing it as a stale read.
func TestDeployRollback(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	r := open(t, dir)
	d := newDeployer(t, r, r)
	a, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, dir, "Scale web", map[string][]byte{"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", 5))})
	if _, err := d.Deploy(t.Context()); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, dir, "reset", "-q", "--hard", a.SourceCommit)
	back, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatalf("deploy after a rollback: %v", err)
	}
	if !back.Committed || back.SourceCommit != a.SourceCommit {
		t.Errorf("rollback deployed %+v, want a new commit of %s", back, a.SourceCommit)
	}
	if got, want := gittest.Git(t, dir, "rev-parse", "deploy^{tree}"), gittest.Git(t, dir, "rev-parse", a.DeployCommit+"^{tree}"); got != want {
		t.Errorf("deploy tree %s after the rollback, want %s as first deployed", got, want)
	}
	if n := gittest.Git(t, dir, "rev-list", "--count", "deploy"); n != "3" {
		t.Errorf("%s deploy commits, want 3", n)
	}
	gittest.Fsck(t, dir)
}

func TestDeployInvalidSource(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	gittest.Commit(t, dir, "Break shop", map[string][]byte{"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/nodes/4/data/port", 0.5))})
	r := open(t, dir)
	_, err := newDeployer(t, r, r).Deploy(t.Context())
	if err == nil || !strings.Contains(err.Error(), `workflows/shop.json: /nodes/4/data/port: must be a whole number`) {
		t.Fatalf("deploy of an invalid source: %v", err)
	}
	if _, err := gittest.GitE(t.Context(), dir, "rev-parse", "--verify", "-q", "deploy"); err == nil {
		t.Error("a deploy branch was created from an invalid source")
	}
}

// TestDeployOverHTTP deploys from and to a remote served by git's own
// smart-HTTP backend.
func TestDeployOverHTTP(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := filepath.Join(root, "workflows.git")
	gittest.InitBare(t, bare)
	srv := gittest.Serve(t, root)
	work := gittest.FixtureRepo(t, fixtureRepo)
	gittest.Git(t, work, "push", "-q", bare, "main")

	url := srv.URL + "/workflows.git"
	r := open(t, url)
	res, err := newDeployer(t, r, r).Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed {
		t.Fatal("no deploy commit")
	}
	gittest.Fsck(t, bare)
	if got := gittest.Git(t, bare, "rev-parse", "deploy"); got != res.DeployCommit {
		t.Errorf("remote deploy branch at %s, want %s", got, res.DeployCommit)
	}
	if diff := cmp.Diff(compileDir(t, bare, "main"), deployedTree(t, bare, "deploy")); diff != "" {
		t.Errorf("remote deploy branch differs from compile(main):\n%s", diff)
	}
	// A restore through the remote is pushed like any commit.
	if _, err := r.Restore(t.Context(), "main", "shop", 1, author); !errors.Is(err, gitrepo.ErrUnchanged) {
		t.Errorf("restore of the only version: %v, want gitrepo.ErrUnchanged", err)
	}
}

// TestDeployToAnotherRemote compiles a local repository into the deploy
// branch of another, reached by a file:// URL.
func TestDeployToAnotherRemote(t *testing.T) {
	t.Parallel()
	source := open(t, gittest.FixtureRepo(t, fixtureRepo))
	bare := filepath.Join(t.TempDir(), "deploy.git")
	gittest.InitBare(t, bare)
	target := open(t, "file://"+bare)
	res, err := newDeployer(t, source, target).Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "deploy"); got != res.DeployCommit {
		t.Errorf("remote deploy branch at %s, want %s", got, res.DeployCommit)
	}
	if got := gittest.Git(t, bare, "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"); got != res.SourceCommit {
		t.Errorf("trailer names %s, want %s", got, res.SourceCommit)
	}
	gittest.Fsck(t, bare)
}
