package hooks

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// hungNumber is the pull request whose GitHub calls never get an answer.
const hungNumber = 13

// hangingGitHub is the stand-in GitHub behind a loopback server that
// answers every call about pull request hungNumber with nothing, until
// the client gives up or the test ends, as a GitHub that accepted a
// connection and hangs.
type hangingGitHub struct {
	*githubtest.GitHub
	// url is the hanging server's; hanging counts the calls it holds now.
	url     string
	hanging atomic.Int64
}

func newHangingGitHub(t *testing.T) *hangingGitHub {
	t.Helper()
	g := &hangingGitHub{GitHub: githubtest.New(t, "..")}
	target, err := url.Parse(g.GitHub.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	ended := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, fmt.Sprintf("/issues/%d/", hungNumber)) {
			g.hanging.Add(1)
			defer g.hanging.Add(-1)
			select {
			case <-r.Context().Done():
			case <-ended:
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(ended) }) // runs first: lets held calls end
	g.url = srv.URL
	return g
}

// reviewRepo returns a repository with a base and a head commit to
// review, and its directory.
func reviewRepo(t *testing.T) (repo *gitrepo.Repo, work, base, head string) {
	t.Helper()
	work = gittest.Init(t)
	base = gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
	shop := testutil.Apply(t, testutil.LoadJSON(t, filepath.Join("../fixtures/repo/workflows/shop.json")), testutil.Set("/nodes/3/data/replicas", 5))
	head = gittest.Commit(t, work, "Scale web", map[string][]byte{"workflows/shop.json": testutil.Marshal(t, shop)})
	repo, err := gitrepo.Open(t.Context(), work, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return repo, work, base, head
}

// TestGitHubCallsTimeOut: a review whose GitHub call never gets an answer
// fails with the client's timeout, with nothing else to end it.
func TestGitHubCallsTimeOut(t *testing.T) {
	t.Parallel()
	g := newHangingGitHub(t)
	repo, _, base, head := reviewRepo(t)
	c := must(compiler.New(compiler.DefaultOptions()))(t)
	r := must(NewReviewer(ReviewerConfig{Source: repo, Compiler: c, GitHubToken: "test-token", GitHubAPIURL: g.url, Timeout: 100 * time.Millisecond}))(t)
	err := r.Review(t.Context(), ReviewJob{Repo: "octo/shop", Number: hungNumber, BaseCommit: base, HeadCommit: head})
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("review of a pull request GitHub hangs on: %v, want a timeout", err)
	}
}

// TestHungReviewDoesNotHoldOthers queues a review whose GitHub calls hang
// before three others. With jobs run side by side, the three are reviewed
// while the first still hangs; with one at a time, the first runs out of
// its deadline (long enough for a review on a loaded machine) and the
// others follow.
func TestHungReviewDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		concurrency int
		timeout     time.Duration
	}{
		{"side by side", 4, time.Hour},
		{"one at a time, with a deadline", 1, 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newHangingGitHub(t)
			repo, work, base, head := reviewRepo(t)
			c := must(compiler.New(compiler.DefaultOptions()))(t)
			// GitHub calls wait as long as the job may: only the job's
			// deadline or its neighbours' slots can let the others run.
			reviewer := must(NewReviewer(ReviewerConfig{Source: repo, Compiler: c, GitHubToken: "test-token", GitHubAPIURL: g.url, Timeout: time.Hour}))(t)
			_, d := newDeployer(t, work)
			h := newHarness(t, t.TempDir(), "main")
			for i, n := range []int{hungNumber, 1, 2, 3} {
				job := ReviewJob{Repo: "octo/shop", Number: n, BaseCommit: base, HeadCommit: head}
				if _, _, err := h.store.Queue().EnqueueOnce(t.Context(), fmt.Sprintf("delivery-%d", i), DeliveryTTL, JobReview, fmt.Sprintf("pr:%d", n), job); err != nil {
					t.Fatal(err)
				}
				// Jobs are claimed oldest first, by an id that sorts by
				// time: the hung one is queued well before the others.
				time.Sleep(time.Millisecond)
			}
			startWorker(t, newTestWorker(t, h, d, func(cfg *WorkerConfig) {
				cfg.Reviewer, cfg.JobConcurrency, cfg.JobTimeout, cfg.JobAttempts = reviewer, tc.concurrency, tc.timeout, 1
			}))
			// The hung one's status, once it fails for good, is "error".
			waitFor(t, func() bool { return strings.Count(strings.Join(g.Statuses(), " "), "success") == 3 }, "the three other pull requests to be reviewed")
			if tc.concurrency > 1 && g.hanging.Load() == 0 {
				t.Error("the hung review no longer hangs; it did not run beside the others")
			}
		})
	}
}
