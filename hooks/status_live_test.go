package hooks

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestLiveSource: a source commit that changes only a workflow's
// description makes no deploy commit, and the workflow is live at it all
// the same; one that changes what the workflow renders is not live until
// its deploy commit is.
func TestLiveSource(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bare := filepath.Join(t.TempDir(), "e2e.git")
	repo, first := deploytest.Deploy(t, "../fixtures/e2e", bare)
	d := deploytest.Deployer(t, repo)
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "work")
	gittest.Git(t, filepath.Dir(work), "clone", "-q", bare, work)
	// push commits a change to web.json on main and deploys it.
	push := func(message string, old, new string) (*deployer.Result, plumbing.Hash) {
		t.Helper()
		p := filepath.Join("workflows", "web.json")
		b, err := os.ReadFile(filepath.Join(work, p))
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Replace(b, []byte(old), []byte(new), 1)
		if bytes.Equal(changed, b) {
			t.Fatalf("web.json has no %q", old)
		}
		gittest.Commit(t, work, message, map[string][]byte{p: changed})
		gittest.Git(t, work, "push", "-q", "origin", "main")
		res, err := d.Deploy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		head, err := repo.Branch("main")
		if err != nil {
			t.Fatal(err)
		}
		return res, head
	}
	live := &liveSource{gitResolver: newGitResolver(repo, repo), compiler: c, log: slog.New(slog.DiscardHandler)}

	res, described := push("Describe the web tier better", `"description": "A web tier:`, `"description": "The web tier:`)
	if res.Committed {
		t.Fatalf("a description-only commit made deploy commit %s", res.DeployCommit)
	}
	live.head = described
	for _, wf := range []string{"web", "jobs"} {
		r, err := live.Resolve(ctx, first.DeployCommit, wf)
		if err != nil {
			t.Fatal(err)
		}
		if r.DeployCommit != first.DeployCommit || r.SourceCommit != described.String() {
			t.Errorf("%s: live %+v, want deploy %s at source %s", wf, r, first.DeployCommit, described)
		}
	}
	if r, _ := live.Resolve(ctx, first.DeployCommit, "web"); r.Version != 2 {
		t.Errorf("web's live version %d, want 2", r.Version)
	}

	res, scaled := push("Scale the web tier", `"replicas": 2`, `"replicas": 3`)
	if !res.Committed {
		t.Fatal("a change of replicas made no deploy commit")
	}
	live.head = scaled
	r, err := live.Resolve(ctx, first.DeployCommit, "web")
	if err != nil {
		t.Fatal(err)
	}
	if r.SourceCommit != first.SourceCommit || r.Version != 1 {
		t.Errorf("before its deploy commit is live, web is live at %+v, want source %s, version 1", r, first.SourceCommit)
	}
	if r, _ := live.Resolve(ctx, first.DeployCommit, "jobs"); r.SourceCommit != scaled.String() {
		t.Errorf("jobs, which the change leaves alone, is live at %+v, want source %s", r, scaled)
	}
	if r, _ := live.Resolve(ctx, res.DeployCommit, "web"); r.SourceCommit != scaled.String() || r.Version != 3 {
		t.Errorf("at its deploy commit, web is live at %+v, want source %s, version 3", r, scaled)
	}
}
