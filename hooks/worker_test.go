package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/store"
)

// TestPushDeploys sends signed push deliveries for commits to a
// 100-workflow repository and waits for each deploy commit: webhook in,
// deploy commit out, through the queue in etcd.
func TestPushDeploys(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add 100 workflows", sample.Repo(100))
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := gitrepo.NewDeployer(repo, repo, c, gitrepo.DeployOptions{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, t.TempDir(), "main")
	w := NewWorker(h.store, d, "worker-1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	deployed := make(chan *gitrepo.DeployResult, 16)
	w.Deployed = func(_ *store.Job, res *gitrepo.DeployResult, _ time.Duration) { deployed <- res }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)

	push := pick(t, "push", `"ref":"refs/heads/`)
	var payload map[string]any
	if err := json.Unmarshal(push, &payload); err != nil {
		t.Fatal(err)
	}
	var latencies []time.Duration
	for i := range 10 {
		sha := gittest.Commit(t, work, fmt.Sprintf("Scale w050 to %d", i+2), map[string][]byte{"workflows/w050.json": sample.Workflow(50, i+2)})
		payload["ref"], payload["after"] = "refs/heads/main", sha
		body, _ := json.Marshal(payload)
		began := time.Now()
		if status, reply := h.post(t, "push", fmt.Sprintf("push-%d", i), sign(body), body); status != http.StatusAccepted {
			t.Fatalf("push %d: %d %s", i, status, reply.Message)
		}
		select {
		case res := <-deployed:
			latencies = append(latencies, time.Since(began))
			if res.SourceCommit != sha || !res.Committed {
				t.Errorf("push %d deployed %s (committed %t), want %s", i, res.SourceCommit, res.Committed, sha)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("push %d was not deployed", i)
		}
	}
	if got := gittest.Git(t, work, "rev-list", "--count", "deploy"); got != "10" {
		t.Errorf("%s deploy commits, want 10", got)
	}
	gittest.Fsck(t, work)
	slices.Sort(latencies)
	t.Logf("webhook → deploy commit, 100 workflows: p50 %s, max %s", latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
}
