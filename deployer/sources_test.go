package deployer

import (
	"path/filepath"
	"slices"
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

// TestDeployMovesWorkflowSources checks, on a local repository and
// through a smart-HTTP remote, that a deploy moves a workflow's source ref
// to the deploy head exactly when the workflow's tree there differs from
// the one at the ref: all at the first deploy, only the changed workflow's
// after, none when nothing changed, and again any a previous deploy left
// behind.
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
			r := open(t, url)
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
			if remote {
				gittest.Fsck(t, refs)
			}
		})
	}
}
