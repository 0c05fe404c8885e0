// Package builds_test runs builds on the real stack: the service makes
// each build's Job with client-go, follows the build pod's containers,
// resolves the pushed digest from a real OCI registry on loopback and
// writes it back to the node through git. kwok's build stages run the
// pod's clone, build and push containers one after the other; the test
// ends each step as the step's container would (an exit code, a
// message), and plays the pusher: it pushes a real image where the Job
// pushes.
package builds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/registrytest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

const (
	fixtureRepo = "../../fixtures/repo"
	// apiRepo is where the shop workflow's api node is built from.
	apiRepo = "https://github.com/example/shop-api.git"
	// apiImage is the api node's image before any build.
	apiImage = "ghcr.io/example/shop-api@sha256:0e1b2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
)

// commit returns a commit id made of one hex digit.
func commit(c byte) string { return strings.Repeat(string(c), 40) }

// statuses records each status a build's record is written with.
type statuses struct {
	*store.Store
	mu   sync.Mutex
	seen map[string][]build.Status
}

// UpdateBuild writes through to the store and notes the status written.
// The lock is held across both, so that a reader who saw the write in
// the store and then asks for the statuses finds it noted.
func (s *statuses) UpdateBuild(ctx context.Context, id string, value []byte, revision int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, err := s.Store.UpdateBuild(ctx, id, value, revision)
	var r build.Record
	if ok && json.Unmarshal(value, &r) == nil {
		if seq := s.sequence(id); seq[len(seq)-1] != r.Status {
			s.seen[id] = append(s.seen[id], r.Status)
		}
	}
	return ok, err
}

// of returns the statuses a build's record was written with, starting
// with the pending it was created with.
func (s *statuses) of(id string) []build.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sequence(id)
}

func (s *statuses) sequence(id string) []build.Status {
	return append([]build.Status{build.Pending}, s.seen[id]...)
}

// env is one build service on the stack, with its own namespace, etcd and
// workflows repository.
type env struct {
	t        *testing.T
	stack    *kubetest.Stack
	cfg      build.Config
	records  *statuses
	dir      string // the workflows repository
	repo     *gitrepo.Repo
	deploys  atomic.Int32
	svc      *build.Service
	stopping func()
}

func newEnv(t *testing.T, stack *kubetest.Stack, registryHost, namespace string, edit func(*build.Config)) *env {
	t.Helper()
	e := &env{t: t, stack: stack}
	e.dir = gittest.FixtureRepo(t, fixtureRepo)
	gittest.Commit(t, e.dir, "Build the api", map[string][]byte{
		"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json",
			testutil.Set("/nodes/4/data/build", map[string]any{"repoUrl": apiRepo, "context": "."})),
	})
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.records = &statuses{Store: st, seen: map[string][]build.Status{}}
	if e.repo, err = gitrepo.Open(t.Context(), e.dir, gitrepo.Options{CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.cfg = build.Config{
		Registry: registryHost + "/team", RegistryInsecure: true, Namespace: namespace,
		CloneImage: "alpine/git:v2.47.2", BuilderImage: "moby/buildkit:v0.23.2-rootless", PushImage: "gcr.io/go-containerregistry/crane:v0.20.6",
		CPU: "100m", Memory: "128Mi", Timeout: 10 * time.Minute, Retries: 0, Resync: time.Second, PolicyInterval: time.Hour,
	}
	if edit != nil {
		edit(&e.cfg)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start runs a build service, as a restarted replica would.
func (e *env) start() {
	e.t.Helper()
	svc, err := build.NewService(build.ServiceConfig{
		Config: e.cfg, Records: e.records, Sessions: e.records.Store, ID: e.t.Name(), Kube: e.stack.Client,
		Source: e.repo, SourceBranch: "main", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"},
		Deploy: e.deploy,
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	e.svc = svc
	e.stopping = func() { cancel(); <-done }
}

// deploy deploys the workflows repository's main to its deploy branch,
// as the service's worker does on the deploy signal.
func (e *env) deploy(ctx context.Context) error {
	e.deploys.Add(1)
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		return err
	}
	d, err := deployer.New(e.repo, e.repo, c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"}})
	if err != nil {
		return err
	}
	if _, err = d.Deploy(ctx); err != nil {
		e.t.Errorf("deploy after a write-back: %v", err)
	}
	return err
}

// stop stops the build service, as a killed replica stops.
func (e *env) stop() {
	if e.stopping != nil {
		e.stopping()
		e.stopping = nil
	}
}

// started starts the api node's build of a commit.
func (e *env) started(c byte) *build.Record {
	e.t.Helper()
	rs, err := e.svc.Pushed(e.t.Context(), build.Push{URLs: []string{apiRepo}, Branch: "main", Commit: commit(c)})
	if err != nil || len(rs) != 1 {
		e.t.Fatalf("push of %s started %d builds, %v", commit(c), len(rs), err)
	}
	return rs[0]
}

// wait waits until the build's record satisfies ok.
func (e *env) wait(id, what string, ok func(*build.Record) bool) *build.Record {
	e.t.Helper()
	var last *build.Record
	err := e.stack.Poll(e.t.Context(), 2*time.Minute, func() (bool, error) {
		r, _, err := e.svc.Get(e.t.Context(), id)
		if err != nil {
			return false, err
		}
		last = r
		return ok(r), nil
	})
	if err != nil {
		e.t.Fatalf("build %s %s: %v; last %+v", id, what, err, last)
	}
	return last
}

func (e *env) waitStatus(id string, s build.Status) *build.Record {
	e.t.Helper()
	return e.wait(id, "reaches "+string(s), func(r *build.Record) bool { return r.Status == s })
}

// pod waits for the build's pod.
func (e *env) pod(id string) *corev1.Pod {
	e.t.Helper()
	var pod *corev1.Pod
	err := e.stack.Poll(e.t.Context(), 2*time.Minute, func() (bool, error) {
		pods, err := e.stack.Client.CoreV1().Pods(e.cfg.Namespace).List(e.t.Context(), metav1.ListOptions{LabelSelector: build.LabelBuild + "=" + id})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if err != nil {
		e.t.Fatalf("no pod for build %s: %v", id, err)
	}
	return pod
}

// end ends the build pod's step with an exit code, as its container
// would; kwok's build stages play the rest.
func (e *env) end(id, step string, code int, message string) {
	e.t.Helper()
	if err := e.stack.EndBuildStep(e.t.Context(), e.cfg.Namespace, e.pod(id).Name, step, code, message); err != nil {
		e.t.Fatal(err)
	}
}

// runTo runs a build through its steps, each one once the service saw it,
// up to the step given (clone, build or push), which it leaves running,
// and logs how long each step took to be reported after the previous one
// ended.
func (e *env) runTo(id, last string) {
	e.t.Helper()
	var ended time.Time
	for _, st := range []struct {
		step   string
		status build.Status
	}{{"clone", build.Cloning}, {"build", build.Building}, {"push", build.Pushing}} {
		e.waitStatus(id, st.status)
		if !ended.IsZero() {
			e.t.Logf("build %s: %s reported %s after the previous step ended", id, st.status, time.Since(ended).Round(10*time.Millisecond))
		}
		if st.step == last {
			return
		}
		e.end(id, st.step, 0, "")
		ended = time.Now()
	}
}

// checkSequence checks the statuses a build's record was written with.
func (e *env) checkSequence(id string, want ...build.Status) {
	e.t.Helper()
	if got := e.records.of(id); !slices.Equal(got, want) {
		e.t.Errorf("build %s went through %v, want %v", id, got, want)
	}
}

// jobGone waits until the build's Job is deleted.
func (e *env) jobGone(id string) {
	e.t.Helper()
	err := e.stack.Poll(e.t.Context(), 2*time.Minute, func() (bool, error) {
		_, err := e.stack.Client.BatchV1().Jobs(e.cfg.Namespace).Get(e.t.Context(), build.JobName(id), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		e.t.Fatalf("the Job of build %s remains: %v", id, err)
	}
}

// jobs counts the Jobs in the env's namespace.
func (e *env) jobs() int {
	e.t.Helper()
	list, err := e.stack.Client.BatchV1().Jobs(e.cfg.Namespace).List(e.t.Context(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list.Items)
}

// workflowAt returns the shop workflow file on main.
func (e *env) workflowAt() string {
	e.t.Helper()
	return gittest.Git(e.t, e.dir, "show", "main:workflows/shop.json")
}

// checkWriteBack checks that main's head is the build's write-back, which
// set only the api node's image, to image, byte for byte, in a commit
// naming the build.
func (e *env) checkWriteBack(r *build.Record, before, image string) {
	e.t.Helper()
	if got := gittest.Git(e.t, e.dir, "rev-parse", "main"); got != r.WriteBack {
		e.t.Errorf("main is at %s, want the write-back %s", got, r.WriteBack)
	}
	checkOnlyImage(e.t, before, e.workflowAt(), apiImage, image)
	msg := gittest.Git(e.t, e.dir, "log", "-1", "--format=%B", r.WriteBack)
	if !strings.Contains(msg, "Build-Id: "+r.ID) {
		e.t.Errorf("write-back message lacks the build's trailer:\n%s", msg)
	}
}

func TestBuildsOnTheStack(t *testing.T) {
	stack, _ := kubetest.ForTest(t, binDir, false)
	host := registrytest.Serve(t)

	t.Run("kwok runs each step; the registry's digest is written back", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, stack, host, "builds-kwok", nil)
		before := e.workflowAt()
		r := e.started('a')
		e.runTo(r.ID, "push")
		// The test is the pusher: a real image where the Job pushes. The
		// push step reports nothing, so the digest can only come from
		// the registry.
		digest := registrytest.Push(t, r.Registry+"/"+r.ImageName+":"+r.ImageTag)
		e.end(r.ID, "push", 0, "")
		done := e.waitStatus(r.ID, build.Completed)
		e.checkSequence(r.ID, build.Pending, build.Cloning, build.Building, build.Pushing, build.Completed)
		want := host + "/team/example/shop-api:" + commit('a')[:12] + "@" + digest
		if done.FinalImageRef != want || done.Progress != 100 || done.WriteBackSkipped != "" {
			t.Errorf("completed build = %+v; want the image %s written back", done, want)
		}
		e.checkWriteBack(done, before, want)
		// The deploy that follows compiles the write-back: the api
		// Deployment runs the image by digest.
		var compiled string
		if err := stack.Poll(t.Context(), time.Minute, func() (bool, error) {
			compiled, _ = gittest.GitE(t.Context(), e.dir, "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy")
			return strings.TrimSpace(compiled) == done.WriteBack, nil
		}); err != nil {
			t.Fatalf("the deploy branch compiles %q, want the write-back %s: %v", compiled, done.WriteBack, err)
		}
		if n := e.deploys.Load(); n != 1 {
			t.Errorf("%d deploys after the write-back, want 1", n)
		}
		if got := gittest.Git(t, e.dir, "grep", "-l", "image: "+want, "deploy", "--", "workflows/shop/base"); !strings.Contains(got, "deployment-api") {
			t.Errorf("the deploy branch's api Deployment lacks %s: %q", want, got)
		}
		// A replayed push starts nothing: one Job.
		if rs, err := e.svc.Pushed(t.Context(), build.Push{URLs: []string{apiRepo}, Branch: "main", Commit: commit('a')}); err != nil || len(rs) != 0 {
			t.Errorf("replayed push started %d builds, %v", len(rs), err)
		}
		if n := e.jobs(); n != 1 {
			t.Errorf("%d Jobs, want 1", n)
		}
	})

	t.Run("failure at each step", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, stack, host, "builds-fail", nil)
		for _, step := range []struct {
			commit   byte
			step     string
			code     int
			log      string
			sequence []build.Status
		}{
			{'1', "clone", 128, "fatal: remote error: upload-pack: not our ref",
				[]build.Status{build.Pending, build.Cloning, build.Failed}},
			{'2', "build", 1, "ERROR: failed to solve: process \"/bin/sh -c go build\" did not complete successfully: exit code: 2",
				[]build.Status{build.Pending, build.Cloning, build.Building, build.Failed}},
			{'3', "push", 1, "UNAUTHORIZED: authentication required",
				[]build.Status{build.Pending, build.Cloning, build.Building, build.Pushing, build.Failed}},
		} {
			r := e.started(step.commit)
			e.runTo(r.ID, step.step)
			e.end(r.ID, step.step, step.code, step.log)
			got := e.waitStatus(r.ID, build.Failed)
			if want := fmt.Sprintf("step %s failed with exit code %d", step.step, step.code); got.Error != want || got.LogTail != step.log {
				t.Errorf("failed build = %+v; want %q with the log tail", got, want)
			}
			e.checkSequence(r.ID, step.sequence...)
		}
		if n := e.deploys.Load(); n != 0 {
			t.Errorf("%d deploys asked for, want none: failed builds write nothing back", n)
		}
	})

	t.Run("a restart, supersession and cancel", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, stack, host, "builds-steps", nil)
		before := e.workflowAt()
		// Stopped mid-build, the service reads the step from the Job after
		// its restart: the build is neither lost nor run again.
		r := e.started('c')
		e.runTo(r.ID, "build")
		uid := e.pod(r.ID).UID
		e.stop()
		e.end(r.ID, "build", 0, "")
		e.start()
		e.waitStatus(r.ID, build.Pushing)
		if e.pod(r.ID).UID != uid || e.jobs() != 1 {
			t.Errorf("the restart made another pod or Job")
		}
		digest := registrytest.Push(t, r.Registry+"/"+r.ImageName+":"+r.ImageTag)
		ref := r.Registry + "/" + r.ImageName + ":" + r.ImageTag + "@" + digest
		e.end(r.ID, "push", 0, ref)
		e.checkWriteBack(e.waitStatus(r.ID, build.Completed), before, ref)
		e.checkSequence(r.ID, build.Pending, build.Cloning, build.Building, build.Pushing, build.Completed)

		// A newer commit cancels the older build, and its Job goes.
		older := e.started('d')
		e.runTo(older.ID, "build")
		newer := e.started('e')
		if got := e.waitStatus(older.ID, build.Cancelled); !strings.Contains(got.Error, newer.ID) {
			t.Errorf("superseded build = %+v", got)
		}
		e.jobGone(older.ID)
		e.checkSequence(older.ID, build.Pending, build.Cloning, build.Building, build.Cancelled)
		// Cancelling deletes the Job.
		e.runTo(newer.ID, "push")
		if _, cancelled, err := e.svc.Cancel(t.Context(), newer.ID, "cancelled by the test"); err != nil || !cancelled {
			t.Fatalf("cancel: %t, %v", cancelled, err)
		}
		e.jobGone(newer.ID)
		e.checkSequence(newer.ID, build.Pending, build.Cloning, build.Building, build.Pushing, build.Cancelled)
		if n := e.deploys.Load(); n != 1 {
			t.Errorf("%d deploys asked for, want 1: cancelled builds write nothing back", n)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, stack, host, "builds-timeout", func(c *build.Config) { c.Timeout = 20 * time.Second })
		r := e.started('f')
		// The clone never ends.
		e.runTo(r.ID, "clone")
		got := e.waitStatus(r.ID, build.Failed)
		if !strings.Contains(got.Error, "timed out after 20s") {
			t.Errorf("timed-out build = %+v", got)
		}
		e.checkSequence(r.ID, build.Pending, build.Cloning, build.Failed)
	})
}

// checkOnlyImage checks that a workflow file changed from before to after
// in one image only, from old to image, byte for byte.
func checkOnlyImage(t *testing.T, before, after, old, image string) {
	t.Helper()
	if strings.Count(before, `"`+old+`"`) != 1 || strings.Replace(before, `"`+old+`"`, `"`+image+`"`, 1) != after {
		t.Errorf("the write-back changed more or less than the image %s to %s:\nbefore %s\nafter  %s", old, image, before, after)
	}
}
