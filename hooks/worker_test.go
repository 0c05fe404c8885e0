package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// newDeployer deploys main to deploy in the repository at dir, a path or
// URL.
func newDeployer(t *testing.T, dir string) (*gitrepo.Repo, *deployer.Deployer) {
	t.Helper()
	repo, err := gitrepo.Open(t.Context(), dir, gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return repo, deploytest.Deployer(t, repo)
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
	deployed := make(chan *deployer.Result, 16)
	w := newTestWorker(t, h, d, func(cfg *WorkerConfig) {
		cfg.Deployed = func(res *deployer.Result, _ time.Duration) { deployed <- res }
	})
	startWorker(t, w)
	// The worker deploys the branch as it finds it when it starts leading.
	waitDeployed := func(what, sha string) *deployer.Result {
		t.Helper()
		for {
			select {
			case res := <-deployed:
				if res.SourceCommit == sha {
					return res
				}
			case <-time.After(convergeBound):
				t.Fatalf("%s was not deployed", what)
			}
		}
	}
	waitDeployed("the branch at start", gittest.Git(t, work, "rev-parse", "HEAD"))

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
		if res := waitDeployed(fmt.Sprintf("push %d", i), sha); !res.Committed {
			t.Errorf("push %d deployed %s without a commit", i, sha)
		}
		latencies = append(latencies, time.Since(began))
	}
	if got := gittest.Git(t, remote, "rev-list", "--count", "deploy"); got != "11" {
		t.Errorf("%s deploy commits, want 11 (the start and 10 pushes)", got)
	}
	gittest.Fsck(t, remote)
	slices.Sort(latencies)
	t.Logf("webhook → deploy commit, 100 workflows: p50 %s, max %s", latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
}

// TestConcurrentPushes posts 50 push deliveries at once for 50 commits
// before the worker starts: the deploy history stays linear and ends at
// compile(HEAD), with nothing left queued.
func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add 20 workflows", sample.Repo(20))
	var shas []string
	for i := range 50 {
		shas = append(shas, gittest.Commit(t, work, fmt.Sprintf("Scale w010 to %d", i+2), map[string][]byte{"workflows/w010.json": sample.Workflow(10, i+2)}))
	}
	_, d := newDeployer(t, work)
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
	startWorker(t, newTestWorker(t, h, d))
	waitCompiled(t, work, work)
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
	gittest.Fsck(t, work)
}

// convergeBound is how long tests wait for a deploy: a deploy of 100
// workflows takes under a second on an idle machine, but parallel tests
// under the race detector on a loaded one can stretch it a hundredfold.
const convergeBound = 3 * time.Minute

// newTestWorker returns a worker with short waits; it resyncs only once
// an hour, so that what a test sees comes from signals and retries.
// Each tune changes its configuration further.
func newTestWorker(t *testing.T, h *harness, d Deployer, tune ...func(*WorkerConfig)) *Worker {
	cfg := WorkerConfig{
		Sessions: h.store, Queue: h.store.Queue(), Deployer: d, ID: "worker-1", Log: slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Poll: 20 * time.Millisecond, DeployInterval: 100 * time.Millisecond, RetryMin: 50 * time.Millisecond, ResyncInterval: time.Hour, JobAttempts: 3,
	}
	for _, f := range tune {
		f(&cfg)
	}
	return must(NewWorker(cfg))(t)
}

// testLog writes a worker's log to the test's, shown when it fails.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startWorker runs w until the returned function is called or the test
// ends, whichever comes first.
func startWorker(t *testing.T, w *Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// wantTree returns the tree of compile(head of main) of source (a path or
// URL), as a deploy commit holds it: deployed by a deployer of its own
// into a scratch repository.
func wantTree(t testing.TB, source string) string {
	t.Helper()
	scratch := t.TempDir()
	gittest.Git(t, scratch, "init", "-q", "--bare")
	opts := gitrepo.Options{CacheDir: t.TempDir()}
	src, err := gitrepo.Open(t.Context(), source, opts)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := gitrepo.Open(t.Context(), scratch, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployer.New(src, dst, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Scratch", Email: "scratch@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deploy(t.Context()); err != nil {
		t.Fatal(err)
	}
	return gittest.Git(t, scratch, "rev-parse", "deploy^{tree}")
}

// deployTree returns the tree of the deploy branch in the repository at
// dir, or "" when there is none.
func deployTree(t testing.TB, dir string) string {
	out, err := gittest.GitE(t.Context(), dir, "rev-parse", "-q", "--verify", "deploy^{tree}")
	if err != nil {
		return ""
	}
	return out
}

// waitTree waits for the deploy branch in dir to hold tree, until bound
// after since, and returns how long after since it did.
func waitTree(t testing.TB, dir, tree string, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	for deployTree(t, dir) != tree {
		if time.Since(since) > bound {
			t.Fatalf("the deploy branch did not converge to compile(source head) within %s", bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(since)
}

// waitCompiled waits for the deploy branch in dir to be compile(head of
// main) of source, for up to convergeBound.
func waitCompiled(t testing.TB, source, dir string) {
	t.Helper()
	waitTree(t, dir, wantTree(t, source), time.Now(), convergeBound)
}

// pullRequests returns a function that makes GitHub's example
// pull_request opened payload for a head commit.
func pullRequests(t testing.TB) func(head string) []byte {
	t.Helper()
	example := pick(t, "pull_request", `"action":"opened"`)
	return func(head string) []byte {
		var p map[string]any
		if err := json.Unmarshal(example, &p); err != nil {
			t.Fatal(err)
		}
		p["pull_request"].(map[string]any)["head"].(map[string]any)["sha"] = head
		body, _ := json.Marshal(p)
		return body
	}
}

// TestFailingReviewsDoNotStopDeploys queues more review jobs than a page
// of the queue, all failing (no GitHub token), and then a push: the push
// is deployed and the reviews are recorded as failed, also after a
// restart with more of both.
func TestFailingReviewsDoNotStopDeploys(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add 10 workflows", sample.Repo(10))
	_, d := newDeployer(t, work)
	dir := t.TempDir()
	pr, push := pullRequests(t), pushes(t)
	for round := range 2 { // the second round runs after a restart
		h := newHarness(t, dir, "main")
		for i := range 70 {
			body := pr(fmt.Sprintf("%040x", round*100+i+1)) // never the zero SHA
			if status, reply := h.post(t, "pull_request", fmt.Sprintf("pr-%d-%d", round, i), sign(body), body); status != http.StatusAccepted {
				t.Fatalf("pull request %d: %d %s", i, status, reply.Message)
			}
		}
		sha := gittest.Commit(t, work, fmt.Sprintf("Scale w005 to %d", round+2), map[string][]byte{"workflows/w005.json": sample.Workflow(5, round+2)})
		body := push(sha)
		if status, reply := h.post(t, "push", fmt.Sprintf("push-%d", round), sign(body), body); status != http.StatusAccepted {
			t.Fatalf("push: %d %s", status, reply.Message)
		}
		stop := startWorker(t, newTestWorker(t, h, d))
		waitCompiled(t, work, work)
		waitFor(t, func() bool { return h.depth(t) == 0 }, "the failing reviews to leave the queue")
		stop()
		failed, err := h.store.Queue().Failed(t.Context())
		if err != nil || len(failed) != 70*(round+1) {
			t.Fatalf("round %d: %d failed jobs recorded, want %d (%v)", round, len(failed), 70*(round+1), err)
		}
		if !strings.Contains(failed[0].LastError, "HOOKS_GITHUB_TOKEN") {
			t.Errorf("failed review's reason %q does not name HOOKS_GITHUB_TOKEN", failed[0].LastError)
		}
		h.store.Close()
	}
}

// TestRollbackDeploys deploys A, then B, then moves the source branch
// back to A: the push of A is deployed again, as a new deploy commit
// whose tree is compile(A).
func TestRollbackDeploys(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	a := gittest.Commit(t, work, "Add 10 workflows", sample.Repo(10))
	_, d := newDeployer(t, work)
	h := newHarness(t, t.TempDir(), "main")
	startWorker(t, newTestWorker(t, h, d))
	push := pushes(t)
	deliver := func(id, sha string) {
		body := push(sha)
		if status, reply := h.post(t, "push", id, sign(body), body); status != http.StatusAccepted {
			t.Fatalf("push %s: %d %s", id, status, reply.Message)
		}
	}
	deliver("push-a", a)
	treeA := wantTree(t, work)
	waitTree(t, work, treeA, time.Now(), convergeBound)
	b := gittest.Commit(t, work, "Scale w005", map[string][]byte{"workflows/w005.json": sample.Workflow(5, 9)})
	deliver("push-b", b)
	waitCompiled(t, work, work)
	gittest.Git(t, work, "reset", "-q", "--hard", a)
	deliver("push-a-again", a)
	waitTree(t, work, treeA, time.Now(), convergeBound)
	if n := gittest.Git(t, work, "rev-list", "--count", "deploy"); n != "3" {
		t.Errorf("%s deploy commits, want 3: A, B and A again", n)
	}
	if got := gittest.Git(t, work, "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"); got != a {
		t.Errorf("the last deploy names %s, want %s", got, a)
	}
}

// TestDeliveryIDsAreNotRecords sends a signed delivery whose id is the
// key a record of the push of a commit once had, before the real push of
// that commit: the push is still deployed.
func TestDeliveryIDsAreNotRecords(t *testing.T) {
	t.Parallel()
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add 10 workflows", sample.Repo(10))
	_, d := newDeployer(t, work)
	h := newHarness(t, t.TempDir(), "main")
	startWorker(t, newTestWorker(t, h, d))
	waitCompiled(t, work, work)
	sha := gittest.Commit(t, work, "Scale w005", map[string][]byte{"workflows/w005.json": sample.Workflow(5, 9)})
	pr := pick(t, "pull_request", `"action":"opened"`)
	if status, reply := h.post(t, "pull_request", "done/push:"+sha, sign(pr), pr); status != http.StatusAccepted {
		t.Fatalf("pull request: %d %s", status, reply.Message)
	}
	push := pushes(t)(sha)
	if status, reply := h.post(t, "push", "push-"+sha, sign(push), push); status != http.StatusAccepted {
		t.Fatalf("push: %d %s", status, reply.Message)
	}
	waitCompiled(t, work, work)
}

// TestFailedDeployRetried makes the source remote unreachable while a
// push is delivered: the deploy fails, is retried with growing waits
// while the process lives, and succeeds once the remote is back, without
// another delivery. Its status shows in /readyz's detail.
func TestFailedDeployRetried(t *testing.T) {
	t.Parallel()
	r := newFlakyRemote(t)
	r.commit(t, "Add 10 workflows", sample.Repo(10))
	_, d := newDeployer(t, r.url)
	h := newHarness(t, t.TempDir(), "main")
	w := newTestWorker(t, h, d)
	startWorker(t, w)
	waitCompiled(t, r.url, r.bare)

	r.down.Store(true)
	sha := r.commit(t, "Scale w005", map[string][]byte{"workflows/w005.json": sample.Workflow(5, 9)})
	body := pushes(t)(sha)
	if status, reply := h.post(t, "push", "push-while-down", sign(body), body); status != http.StatusAccepted {
		t.Fatalf("push: %d %s", status, reply.Message)
	}
	waitFor(t, func() bool { return w.Status().Failures >= 3 }, "three failed attempts")
	st := w.Status()
	if !st.Leading || !strings.Contains(st.LastError, "503") || !st.NextAttempt.After(st.LastAttempt) {
		t.Errorf("status while the source is down: %+v", st)
	}
	want := wantTree(t, r.bare)
	r.down.Store(false)
	took := waitTree(t, r.bare, want, time.Now(), convergeBound)
	t.Logf("converged %s after the source came back", took.Round(time.Millisecond))
	waitFor(t, func() bool { return w.Status().Failures == 0 }, "the status to clear")
	if st := w.Status(); st.SourceCommit != sha || st.LastError != "" {
		t.Errorf("status after recovery: %+v", st)
	}
}
