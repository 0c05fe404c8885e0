package hooks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/store"
)

// newDeployer deploys main to deploy in the repository at dir, a path or
// URL.
func newDeployer(t *testing.T, dir string) (*gitrepo.Repo, *gitrepo.Deployer) {
	t.Helper()
	repo, err := gitrepo.Open(t.Context(), dir, gitrepo.Options{CacheDir: t.TempDir()})
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
	return repo, d
}

// TestPushDeploys sends signed push deliveries for commits to a
// 100-workflow repository and waits for each deploy commit: webhook in,
// deploy commit out, through the queue in etcd. The repository is local,
// or a remote the service reaches over smart HTTP (fetching the source,
// pushing the deploy branch).
func TestPushDeploys(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		work := gittest.Init(t)
		testPushDeploys(t, work, work)
	})
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		bare := root + "/workflows.git"
		gittest.InitBare(t, bare)
		srv := gittest.Serve(t, root)
		testPushDeploys(t, srv.URL+"/workflows.git", bare)
	})
}

// testPushDeploys commits to the repository the service reads as source
// (a path or URL) and checks its deploy branch in remote, the
// repository's directory. A bare remote gets each commit pushed from a
// work tree of its own.
func testPushDeploys(t *testing.T, source, remote string) {
	work, publish := remote, func() {}
	if source != remote {
		work = gittest.Init(t)
		publish = func() { gittest.Git(t, work, "push", "-q", remote, "main") }
	}
	gittest.Commit(t, work, "Add 100 workflows", sample.Repo(100))
	publish()
	_, d := newDeployer(t, source)
	h := newHarness(t, t.TempDir(), "main")
	w := NewWorker(h.store, d, "worker-1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	deployed := make(chan *gitrepo.DeployResult, 16)
	w.Deployed = func(_ *store.Job, res *gitrepo.DeployResult, _ time.Duration) { deployed <- res }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)

	push := pushes(t)
	var latencies []time.Duration
	for i := range 10 {
		sha := gittest.Commit(t, work, fmt.Sprintf("Scale w050 to %d", i+2), map[string][]byte{"workflows/w050.json": sample.Workflow(50, i+2)})
		publish()
		body := push(sha)
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
	if got := gittest.Git(t, remote, "rev-list", "--count", "deploy"); got != "10" {
		t.Errorf("%s deploy commits, want 10", got)
	}
	gittest.Fsck(t, remote)
	slices.Sort(latencies)
	t.Logf("webhook → deploy commit, 100 workflows: p50 %s, max %s", latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
}

// TestConcurrentPushes posts 50 push deliveries at once for 50 commits:
// the deploy history stays linear and ends at compile(HEAD).
func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add 20 workflows", sample.Repo(20))
	var shas []string
	for i := range 50 {
		shas = append(shas, gittest.Commit(t, work, fmt.Sprintf("Scale w010 to %d", i+2), map[string][]byte{"workflows/w010.json": sample.Workflow(10, i+2)}))
	}
	repo, d := newDeployer(t, work)
	h := newHarness(t, t.TempDir(), "main")
	push := pushes(t)
	var wg sync.WaitGroup
	for i, sha := range shas {
		body := push(sha)
		wg.Go(func() {
			if status, reply := h.post(t, "push", fmt.Sprintf("push-%d", i), sign(body), body); status != http.StatusAccepted {
				t.Errorf("push %d: %d %s", i, status, reply.Message)
			}
		})
	}
	wg.Wait()
	w := NewWorker(h.store, d, "worker-1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)
	deadline := time.Now().Add(60 * time.Second)
	for h.depth(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := h.depth(t); n != 0 {
		t.Fatalf("%d jobs left", n)
	}
	for _, line := range strings.Split(gittest.Git(t, work, "rev-list", "--parents", "deploy"), "\n") {
		if len(strings.Fields(line)) > 2 {
			t.Errorf("deploy history is not linear: %s", line)
		}
	}
	if got := gittest.Git(t, work, "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"); got != shas[len(shas)-1] {
		t.Errorf("last deploy is of %s, want HEAD %s", got, shas[len(shas)-1])
	}
	head, err := repo.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	src, err := repo.Source(head)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	want, err := fresh.Build(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range want.Tree.Paths() {
		got, err := gittest.GitE(t.Context(), work, "cat-file", "blob", "deploy:"+p)
		if err != nil || got != strings.TrimSpace(string(want.Tree[p])) {
			t.Errorf("deploy:%s differs from compile(HEAD)", p)
		}
	}
	if n := len(strings.Split(gittest.Git(t, work, "ls-tree", "-r", "--name-only", "deploy"), "\n")); n != len(want.Tree) {
		t.Errorf("deploy branch has %d files, compile(HEAD) %d", n, len(want.Tree))
	}
	gittest.Fsck(t, work)
}
