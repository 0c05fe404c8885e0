package build

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/registrytest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
)

const (
	fixtureRepo = "../fixtures/repo"
	// apiRepo is where the fixture's api node is built from.
	apiRepo = "https://github.com/example/shop-api.git"
	commitA = "1111111111111111111111111111111111111111"
	commitB = "2222222222222222222222222222222222222222"
)

// fixture is a Service on a real etcd, a real workflows repository and,
// when registry is set, a real OCI registry on loopback; the cluster is
// never reached.
type fixture struct {
	svc      *Service
	store    *store.Store
	dir      string // the workflows repository
	repo     *gitrepo.Repo
	registry string // host:port of the registry
	deploys  atomic.Int32
}

// newFixture starts a Service whose shop workflow builds node api from
// apiRepo.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	f.dir = gittest.FixtureRepo(t, fixtureRepo)
	gittest.Commit(t, f.dir, "Build the api", map[string][]byte{
		"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json",
			testutil.Set("/nodes/4/data/build", map[string]any{"repoUrl": apiRepo, "context": "api", "args": map[string]any{"GO": "1.26"}})),
	})
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	if f.repo, err = gitrepo.Open(t.Context(), f.dir, gitrepo.Options{CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	f.registry = registrytest.Serve(t)
	// The cluster's address refuses connections: these tests never reach it.
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = NewService(ServiceConfig{
		Config:  testConfig(f.registry + "/team"),
		Records: st, Sessions: st, ID: "test", Kube: kube,
		Source: f.repo, SourceBranch: "main", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"},
		Deploy: func(ctx context.Context) error { f.deploys.Add(1); return nil },
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// startAPI starts the build of the shop's api at commitA.
func (f *fixture) startAPI(t *testing.T) *Record {
	t.Helper()
	r, _, err := f.svc.Start(t.Context(), Request{Workflow: "shop", Node: "api", Commit: commitA})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// complete completes r, whose builder reported the image reported ("" for
// none), and returns its record then.
func (f *fixture) complete(t *testing.T, r *Record, reported string) *Record {
	t.Helper()
	if err := f.svc.complete(t.Context(), r, reported); err != nil {
		t.Fatal(err)
	}
	got, _, err := f.svc.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testConfig is the defaults of Config, pushing to registry over HTTP.
func testConfig(registry string) Config {
	return Config{
		Registry: registry, RegistryInsecure: true, Namespace: "builds",
		CloneImage: "alpine/git:v2.47.2", BuilderImage: "moby/buildkit:v0.23.2-rootless", PushImage: "gcr.io/go-containerregistry/crane:v0.20.6",
		CPU: "1", Memory: "2Gi", Timeout: 30 * time.Minute, Retries: 1, Resync: 10 * time.Second, PolicyInterval: 5 * time.Minute,
	}
}

func TestStartOncePerNodeAndCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, created, err := f.svc.Start(t.Context(), Request{Workflow: "shop", Node: "api", Commit: commitA})
	if err != nil || !created {
		t.Fatalf("start: %t, %v", created, err)
	}
	if r.Status != Pending || r.RepoURL != apiRepo || r.Branch != "main" || r.Context != "api" || r.Args["GO"] != "1.26" ||
		r.Registry != f.registry+"/team" || r.ImageName != "example/shop-api" || r.ImageTag != commitA[:12] {
		t.Errorf("record = %+v", r)
	}
	again, created, err := f.svc.Start(t.Context(), Request{Workflow: "shop", Node: "api", Commit: commitA})
	if err != nil || created || again.ID != r.ID {
		t.Errorf("second start: %+v, %t, %v; want the first build, not created", again, created, err)
	}
	all, err := f.svc.List(t.Context())
	if err != nil || len(all) != 1 {
		t.Errorf("builds = %d, %v; want 1", len(all), err)
	}
}

func TestNewerCommitCancelsOlder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.startAPI(t)
	newer, _, err := f.svc.Start(t.Context(), Request{Workflow: "shop", Node: "api", Commit: commitB})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := f.svc.Get(t.Context(), old.ID)
	if err != nil || got.Status != Cancelled || !strings.Contains(got.Error, newer.ID) || got.CompletedAt == nil {
		t.Errorf("older build = %+v, %v; want cancelled by %s", got, err, newer.ID)
	}
	// A cancelled build stays cancelled: cancelling again changes nothing.
	if again, cancelled, err := f.svc.Cancel(t.Context(), old.ID, "again"); err != nil || cancelled || again.Error != got.Error {
		t.Errorf("cancel again: %+v, %t, %v", again, cancelled, err)
	}
}

func TestStartRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		req  Request
		want error
	}{
		{"unknown workflow", Request{Workflow: "nope", Node: "api", Commit: commitA}, ErrNotFound},
		{"unknown node", Request{Workflow: "shop", Node: "nope", Commit: commitA}, ErrNotFound},
		{"node without a build", Request{Workflow: "shop", Node: "web", Commit: commitA}, ErrNotBuildable},
		{"not a commit", Request{Workflow: "shop", Node: "api", Commit: "main"}, ErrNotBuildable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := f.svc.Start(t.Context(), tt.req); !errors.Is(err, tt.want) {
				t.Errorf("start: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPushedBuildsTheNodesOfThatRepositoryAndBranch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		push Push
		want int
	}{
		{"other branch", Push{URLs: []string{apiRepo}, Branch: "dev", Commit: commitA}, 0},
		{"other repository", Push{URLs: []string{"https://github.com/example/shop-web.git"}, Branch: "main", Commit: commitA}, 0},
		{"its SSH URL", Push{URLs: []string{"git@github.com:example/shop-api.git"}, Branch: "main", Commit: commitA}, 1},
		{"the same commit again", Push{URLs: []string{"https://github.com/example/shop-api"}, Branch: "main", Commit: commitA}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			started, err := f.svc.Pushed(t.Context(), tt.push)
			if err != nil || len(started) != tt.want {
				t.Errorf("started %d builds, %v; want %d", len(started), err, tt.want)
			}
		})
	}
}

func TestRepositoryKey(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://github.com/Example/shop-api.git", "https://GitHub.com/Example/shop-api/", "git@github.com:Example/shop-api.git",
		"ssh://git@github.com/Example/shop-api", "https://bot@github.com/Example/shop-api",
	} {
		if got := repositoryKey(u); got != "github.com/Example/shop-api" {
			t.Errorf("repositoryKey(%q) = %q", u, got)
		}
	}
}

func TestImageName(t *testing.T) {
	t.Parallel()
	const registry = "registry.example:5000/team"
	for _, tt := range []struct{ name, image, want string }{
		{"elsewhere", "ghcr.io/example/shop-api:1.0", "example/shop-api"},
		{"docker hub", "nginx:1", "library/nginx"},
		{"written back by a build", registry + "/example/shop-api:111111111111@sha256:" + strings.Repeat("ab", 32), "example/shop-api"},
		{"same host, another path", "registry.example:5000/other/shop-api:1.0", "other/shop-api"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := imageName(registry, tt.image); got != tt.want || err != nil {
				t.Errorf("imageName(%q) = %q, %v; want %q", tt.image, got, err, tt.want)
			}
		})
	}
}

// readFile returns a file of the workflows repository's main branch.
func readFile(t *testing.T, dir, p string) string {
	t.Helper()
	return gittest.Git(t, dir, "show", "main:"+p)
}

// TestCancelledBuildForgetsItsJob reconciles a cancelled build whose Job
// is gone: its record no longer names the Job, and a resync does not
// queue it again.
func TestCancelledBuildForgetsItsJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.startAPI(t)
	if _, err := f.svc.update(t.Context(), r.ID, func(r *Record) bool { r.Job = JobName(r.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if _, cancelled, err := f.svc.Cancel(t.Context(), r.ID, "cancelled by the test"); err != nil || !cancelled {
		t.Fatalf("cancel: %t, %v", cancelled, err)
	}
	queued := func() int {
		t.Helper()
		queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
		defer queue.ShutDown()
		f.svc.resync(t.Context(), queue)
		return queue.Len()
	}
	if n := queued(); n != 1 {
		t.Fatalf("resync queued %d builds, want the cancelled one whose Job may remain", n)
	}
	// The cache holds no Job and no pod: the Job was deleted.
	indexer := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	if err := f.svc.reconcile(t.Context(), r.ID, batchlisters.NewJobLister(indexer()), corelisters.NewPodLister(indexer())); err != nil {
		t.Fatal(err)
	}
	got, _, err := f.svc.Get(t.Context(), r.ID)
	if err != nil || got.Status != Cancelled || got.Job != "" {
		t.Errorf("cancelled build after its Job went: %+v, %v; want no Job", got, err)
	}
	if n := queued(); n != 0 {
		t.Errorf("resync queued %d builds, want none", n)
	}
}
