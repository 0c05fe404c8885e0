package deployer

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// configMapWorkflow is a published workflow of one ConfigMap holding
// value.
func configMapWorkflow(name, value string) []byte {
	return []byte(`{"name": "` + name + `", "status": "published", "nodes": [
		{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"v": "` + value + `"}}}], "edges": []}`)
}

// sourcesDeployer deploys main of r to deploy, with a source per
// workflow.
func sourcesDeployer(t *testing.T, r *gitrepo.Repo) *Deployer {
	t.Helper()
	opts := compiler.DefaultOptions()
	opts.WorkflowSources = "deploy"
	c, err := compiler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(r, r, c, Options{SourceBranch: "main", Branch: "deploy", Author: author, WorkflowSources: true})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDeployMovesWorkflowSources checks, on a local repository and
// through a smart-HTTP remote, that a deploy moves a workflow's source ref
// to the deploy head exactly when the workflow's tree there differs from
// the one at the ref: all at the first deploy, only the changed workflow's
// after, none when nothing changed, and again any a previous deploy left
// behind; and that the deploy that takes a workflow out deletes its ref,
// and only its: another deploy branch's refs stay; and that a deploy
// without the layout deletes them all.
func TestDeployMovesWorkflowSources(t *testing.T) {
	t.Parallel()
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "remote"}[remote]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			work := gittest.Init(t)
			gittest.Commit(t, work, "Add a and b", map[string][]byte{
				"workflows/a.json": configMapWorkflow("a", "1"), "workflows/b.json": configMapWorkflow("b", "1"),
			})
			// refs is the repository that holds the deploy branch and the refs.
			refs, url := work, work
			if remote {
				root := t.TempDir()
				refs = filepath.Join(root, "workflows.git")
				gittest.InitBare(t, refs)
				gittest.Git(t, work, "push", "-q", refs, "main")
				url = gittest.Serve(t, root).URL + "/workflows.git"
			}
			push := func(message string, files map[string][]byte) {
				gittest.Commit(t, work, message, files)
				if remote {
					gittest.Git(t, work, "push", "-q", refs, "main")
				}
			}
			d := sourcesDeployer(t, open(t, url))
			ref := func(wf string) string {
				return gittest.Git(t, refs, "rev-parse", compiler.WorkflowSourceRef("deploy", wf))
			}
			deploy := func(wantSources ...string) *Result {
				t.Helper()
				res, err := d.Deploy(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(res.Sources, wantSources) {
					t.Errorf("deploy %s moved the sources of %q, want %q", gitrepo.ShortID(res.DeployCommit), res.Sources, wantSources)
				}
				if len(res.RemovedSources) > 0 {
					t.Errorf("deploy %s removed the sources of %q, want none", gitrepo.ShortID(res.DeployCommit), res.RemovedSources)
				}
				return res
			}

			first := deploy("a", "b")
			for _, wf := range []string{"a", "b"} {
				if got := ref(wf); got != first.DeployCommit {
					t.Errorf("source of %s at %s, want the first deploy %s", wf, got, first.DeployCommit)
				}
			}
			push("Change a", map[string][]byte{"workflows/a.json": configMapWorkflow("a", "2")})
			second := deploy("a")
			if ref("a") != second.DeployCommit || ref("b") != first.DeployCommit {
				t.Errorf("sources of a and b at %s and %s, want %s and %s", ref("a"), ref("b"), second.DeployCommit, first.DeployCommit)
			}
			if res := deploy(); res.Committed {
				t.Error("a deploy of the same source committed")
			}

			// A deploy whose refs never reached the repository left a's
			// ref on the first deploy: the next deploy moves it too.
			gittest.Git(t, refs, "update-ref", compiler.WorkflowSourceRef("deploy", "a"), first.DeployCommit)
			push("Change b", map[string][]byte{"workflows/b.json": configMapWorkflow("b", "2")})
			third := deploy("a", "b")
			if ref("a") != third.DeployCommit || ref("b") != third.DeployCommit {
				t.Errorf("sources of a and b at %s and %s, want both at %s", ref("a"), ref("b"), third.DeployCommit)
			}

			// Taking a out deletes its ref with the same push; the ref of
			// a workflow a of the deploy branch deploy/x is not its.
			other := compiler.WorkflowSourceRef("deploy/x", "a")
			gittest.Git(t, refs, "update-ref", other, first.DeployCommit)
			push("Remove a", map[string][]byte{"workflows/a.json": nil})
			res, err := d.Deploy(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Sources) > 0 || !slices.Equal(res.RemovedSources, []string{"a"}) {
				t.Errorf("a deploy without a moved %q and removed %q, want nothing moved and a removed", res.Sources, res.RemovedSources)
			}
			if out, err := gittest.GitE(t.Context(), refs, "for-each-ref", "--format=%(refname) %(objectname)", "refs/slipway/sources/"); err != nil ||
				out != compiler.WorkflowSourceRef("deploy", "b")+" "+third.DeployCommit+"\n"+other+" "+first.DeployCommit {
				t.Errorf("after a left, the sources are (%v):\n%s\nwant b's at %s and deploy/x's a at %s", err, out, third.DeployCommit, first.DeployCommit)
			}
			// Back with the tree it had, a has its ref again, at the head.
			push("Add a again", map[string][]byte{"workflows/a.json": configMapWorkflow("a", "2")})
			if again := deploy("a"); ref("a") != again.DeployCommit {
				t.Errorf("source of a at %s, want the deploy that brought it back %s", ref("a"), again.DeployCommit)
			}

			// A deploy without the layout deletes the refs of both.
			push("Change a", map[string][]byte{"workflows/a.json": configMapWorkflow("a", "3")})
			if res, err = newDeployer(t, open(t, url), open(t, url)).Deploy(t.Context()); err != nil {
				t.Fatal(err)
			}
			if len(res.Sources) > 0 || !slices.Equal(res.RemovedSources, []string{"a", "b"}) {
				t.Errorf("a deploy without the layout moved %q and removed %q, want nothing moved and a and b removed", res.Sources, res.RemovedSources)
			}
			if out := gittest.Git(t, refs, "for-each-ref", "--format=%(refname)", "refs/slipway/sources/"); out != other {
				t.Errorf("after a deploy without the layout, the sources are:\n%s\nwant only %s", out, other)
			}
			if remote {
				gittest.Fsck(t, refs)
			}
		})
	}
}

// sourcesServer serves a bare repository, workflows.git, holding the
// commits of work's main, and returns its directory and URL.
func sourcesServer(t *testing.T, work string) (bare, url string) {
	t.Helper()
	root := t.TempDir()
	bare = filepath.Join(root, "workflows.git")
	gittest.InitBare(t, bare)
	gittest.Git(t, work, "push", "-q", bare, "main")
	return bare, gittest.Serve(t, root).URL + "/workflows.git"
}

// TestRemovedSourceGoesWithItsDeploy checks that the deploy commit that
// takes a workflow out and the deletion of its source ref reach the
// remote in one atomic push: when the remote refuses the deletion, the
// deploy branch stays too.
func TestRemovedSourceGoesWithItsDeploy(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add a and b", map[string][]byte{
		"workflows/a.json": configMapWorkflow("a", "1"), "workflows/b.json": configMapWorkflow("b", "1"),
	})
	bare, url := sourcesServer(t, work)
	d := sourcesDeployer(t, open(t, url))
	first, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The remote's update hook refuses to delete a's ref.
	a := compiler.WorkflowSourceRef("deploy", "a")
	hook := filepath.Join(bare, "hooks", "update")
	script := "#!/bin/sh\nif [ \"$1\" = " + a + " ] && [ \"$3\" = 0000000000000000000000000000000000000000 ]; then exit 1; fi\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, work, "Remove a", map[string][]byte{"workflows/a.json": nil})
	gittest.Git(t, work, "push", "-q", bare, "main")
	if _, err := d.Deploy(t.Context()); err == nil {
		t.Fatal("a deploy whose ref deletion the remote refused succeeded")
	}
	if head := gittest.Git(t, bare, "rev-parse", "deploy"); head != first.DeployCommit {
		t.Errorf("the deploy branch moved to %s without the deletion of a's ref; want it at %s", head, first.DeployCommit)
	}
	if got := gittest.Git(t, bare, "rev-parse", a); got != first.DeployCommit {
		t.Errorf("a's ref at %s, want %s", got, first.DeployCommit)
	}

	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	res, err := d.Deploy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if head := gittest.Git(t, bare, "rev-parse", "deploy"); head != res.DeployCommit || !slices.Equal(res.RemovedSources, []string{"a"}) {
		t.Errorf("deploy branch at %s, removed sources %q; want %s and a", head, res.RemovedSources, res.DeployCommit)
	}
	if _, err := gittest.GitE(t.Context(), bare, "rev-parse", "-q", "--verify", a); err == nil {
		t.Error("a's ref is still there")
	}
}

// TestConcurrentDeployersKeepSources races deployers, each with its own
// clone, on one remote while the source takes a workflow out and brings
// it back with the tree it had, and changes another: once they are done,
// the refs are those of the deploy head's workflows, each at a commit
// holding the workflow's tree there. A deployer that lost the race for
// the branch must not delete or move a ref after the winner's deploy.
func TestConcurrentDeployersKeepSources(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add a and b", map[string][]byte{
		"workflows/a.json": configMapWorkflow("a", "1"), "workflows/b.json": configMapWorkflow("b", "1"),
	})
	bare, url := sourcesServer(t, work)

	const deployers, sourceCommits = 8, 8
	ds := make([]*Deployer, deployers)
	for i := range ds {
		ds[i] = sourcesDeployer(t, open(t, url))
	}
	var wg sync.WaitGroup
	errs := make(chan error, deployers*sourceCommits)
	wg.Go(func() {
		for i := range sourceCommits {
			files := map[string][]byte{"workflows/a.json": configMapWorkflow("a", fmt.Sprint(i+2))}
			if i%2 == 0 {
				files["workflows/b.json"] = nil
			} else {
				files["workflows/b.json"] = configMapWorkflow("b", "1")
			}
			gittest.Commit(t, work, fmt.Sprintf("Change a to %d", i+2), files)
			gittest.Git(t, work, "push", "-q", bare, "main")
		}
	})
	for _, d := range ds {
		wg.Go(func() {
			for range sourceCommits / 2 {
				if _, err := d.Deploy(t.Context()); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	gittest.Fsck(t, bare)

	head := gittest.Git(t, bare, "rev-parse", "deploy")
	want := map[string]bool{}
	for _, wf := range strings.Fields(gittest.Git(t, bare, "ls-tree", "--name-only", "deploy", "workflows/")) {
		want[strings.TrimPrefix(wf, "workflows/")] = true
	}
	refs := gittest.Git(t, bare, "for-each-ref", "--format=%(refname)", "refs/slipway/sources/deploy/")
	for _, ref := range strings.Fields(refs) {
		wf := strings.TrimPrefix(ref, compiler.WorkflowSourceRef("deploy", ""))
		if !want[wf] {
			t.Errorf("%s is left for a workflow the deploy head %s lacks", ref, gitrepo.ShortID(head))
			continue
		}
		delete(want, wf)
		at, err := gittest.GitE(t.Context(), bare, "rev-parse", ref+":"+compiler.WorkflowDir(wf))
		if now := gittest.Git(t, bare, "rev-parse", "deploy:"+compiler.WorkflowDir(wf)); err != nil || at != now {
			t.Errorf("%s holds the tree %s (%v) of %s, the deploy head %s holds %s", ref, at, err, wf, gitrepo.ShortID(head), now)
		}
	}
	for wf := range want {
		t.Errorf("%s of the deploy head %s has no source ref", wf, gitrepo.ShortID(head))
	}
}
