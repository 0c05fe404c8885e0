package hooks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// The service under faults resyncs every faultResync, which is so also
// its longest wait before a retry: after a fault ends it converges within
// faultResync and one deploy of 10 workflows (under a second on an idle
// machine). faultBound, how long the tests wait for it, leaves room for
// parallel tests under the race detector on a loaded machine.
const (
	faultResync = 5 * time.Second
	faultBound  = convergeBound
)

// flakyRemote is a bare workflows repository served by git's smart-HTTP
// backend behind a switch: while down is set every request gets 503, as
// from a git host that is down. A work tree of its own commits to it.
type flakyRemote struct {
	bare, work string
	// url is the repository's URL through the switch.
	url  string
	down atomic.Bool
}

func newFlakyRemote(t *testing.T) *flakyRemote {
	t.Helper()
	root := t.TempDir()
	r := &flakyRemote{bare: filepath.Join(root, "workflows.git"), work: gittest.Init(t)}
	gittest.InitBare(t, r.bare)
	backend, err := url.Parse(gittest.Serve(t, root).URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "the git host is down", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	r.url = front.URL + "/workflows.git"
	return r
}

// commit commits files in the work tree and pushes them to main.
func (r *flakyRemote) commit(t *testing.T, message string, files map[string][]byte) string {
	t.Helper()
	sha := gittest.Commit(t, r.work, message, files)
	gittest.Git(t, r.work, "push", "-q", r.bare, "main")
	return sha
}

// rejectDeploys installs a pre-receive hook that declines every update of
// the deploy branch while the returned switch is on.
func (r *flakyRemote) rejectDeploys(t *testing.T) (reject func(on bool)) {
	t.Helper()
	flag := filepath.Join(t.TempDir(), "reject")
	hook := fmt.Sprintf(`#!/bin/sh
[ -e %q ] || exit 0
while read old new ref; do
	if [ "$ref" = refs/heads/deploy ]; then echo "deploys are frozen" >&2; exit 1; fi
done
`, flag)
	if err := os.WriteFile(filepath.Join(r.bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	return func(on bool) {
		if on {
			if err := os.WriteFile(flag, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		os.Remove(flag)
	}
}

// TestFaults puts the service through faults while pushes arrive: after
// each, it converges within faultBound with nothing left queued. The kill
// of the whole service at random points of a deploy is
// TestKillDuringDeploy.
func TestFaults(t *testing.T) {
	t.Parallel()
	// pushDuring delivers a push of a new commit every 200ms for d.
	pushDuring := func(t *testing.T, h *harness, r *flakyRemote, d time.Duration) {
		push := pushes(t)
		for i := 0; time.Duration(i)*200*time.Millisecond < d; i++ {
			sha := r.commit(t, fmt.Sprintf("Scale w005 to %d", i+2), map[string][]byte{"workflows/w005.json": sample.Workflow(5, i+2)})
			body := push(sha)
			if status, reply := h.post(t, "push", fmt.Sprintf("push-%s", sha), sign(body), body); status != http.StatusAccepted {
				t.Fatalf("push: %d %s", status, reply.Message)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// converged waits for the deploy branch to be compile(source head),
	// with nothing queued.
	converged := func(t *testing.T, h *harness, r *flakyRemote, w *Worker, want string, faultEnded time.Time) {
		took := waitTree(t, r.bare, want, faultEnded, faultBound)
		waitFor(t, func() bool { return h.depth(t) == 0 }, "an empty queue")
		t.Logf("converged %s after the fault ended (%+v)", took.Round(time.Millisecond), w.Status())
		for _, line := range strings.Split(gittest.Git(t, r.bare, "rev-list", "--parents", "deploy"), "\n") {
			if len(strings.Fields(line)) > 2 {
				t.Errorf("deploy history is not linear: %s", line)
			}
		}
		gittest.Fsck(t, r.bare)
	}
	start := func(t *testing.T, r *flakyRemote, tune ...func(*WorkerConfig)) (*harness, *Worker) {
		r.commit(t, "Add 10 workflows", sample.Repo(10))
		_, d := newDeployer(t, r.url)
		h := newHarness(t, t.TempDir(), "main")
		w := newTestWorker(t, h, d, append([]func(*WorkerConfig){func(cfg *WorkerConfig) { cfg.ResyncInterval = faultResync }}, tune...)...)
		return h, w
	}

	t.Run("source unreachable", func(t *testing.T) {
		t.Parallel()
		r := newFlakyRemote(t)
		h, w := start(t, r)
		startWorker(t, w)
		r.down.Store(true)
		pushDuring(t, h, r, 3*time.Second)
		waitFor(t, func() bool { return w.Status().Failures >= 2 }, "deploys to fail while the source is down")
		want := wantTree(t, r.bare)
		r.down.Store(false)
		converged(t, h, r, w, want, time.Now())
	})

	t.Run("deploy remote rejects pushes", func(t *testing.T) {
		t.Parallel()
		r := newFlakyRemote(t)
		reject := r.rejectDeploys(t)
		h, w := start(t, r)
		reject(true)
		startWorker(t, w)
		pushDuring(t, h, r, 3*time.Second)
		waitFor(t, func() bool { return w.Status().Failures >= 2 }, "deploys to fail while pushes are rejected")
		if st := w.Status(); !strings.Contains(st.LastError, "pre-receive hook declined") {
			t.Errorf("the status does not give the remote's reason: %+v", st)
		}
		want := wantTree(t, r.bare)
		reject(false)
		converged(t, h, r, w, want, time.Now())
	})

	t.Run("a job kind that always fails", func(t *testing.T) {
		t.Parallel()
		f := githubtest.New(t, "..")
		r := newFlakyRemote(t)
		h, w := start(t, r, func(cfg *WorkerConfig) {
			source, _ := newDeployer(t, r.bare) // local: reviews fail without a fetch
			c, err := compiler.New(compiler.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			// Every review fails: its head commit is not in the repository.
			cfg.Reviewer = must(NewReviewer(ReviewerConfig{Source: source, Compiler: c, GitHubToken: "test-token", GitHubAPIURL: f.URL}))(t)
		})
		pr := pullRequests(t)
		const reviews = 100 // more than the queue once read per claim
		for i := range reviews {
			body := pr(fmt.Sprintf("%040x", i+1))
			if status, reply := h.post(t, "pull_request", fmt.Sprintf("pr-%d", i), sign(body), body); status != http.StatusAccepted {
				t.Fatalf("pull request %d: %d %s", i, status, reply.Message)
			}
		}
		startWorker(t, w)
		began := time.Now() // the fault lasts: the bound runs from the start
		pushDuring(t, h, r, time.Second)
		converged(t, h, r, w, wantTree(t, r.bare), began)
		failed, err := h.store.Queue().Failed(t.Context())
		if err != nil || len(failed) != reviews {
			t.Fatalf("%d failed jobs recorded, want %d (%v)", len(failed), reviews, err)
		}
		if failed[0].Attempts != w.cfg.JobAttempts {
			t.Errorf("a failed review was tried %d times, want %d", failed[0].Attempts, w.cfg.JobAttempts)
		}
		if n := strings.Count(strings.Join(f.Statuses(), " "), "error"); n != reviews {
			t.Errorf("%d error statuses set, want %d", n, reviews)
		}
	})
}
