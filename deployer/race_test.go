package deployer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// checkLinearDeploys checks the deploy history of dir: no merges, source
// commits in history order, and the newest one the source head.
func checkLinearDeploys(t *testing.T, dir string) {
	t.Helper()
	for _, line := range strings.Split(gittest.Git(t, dir, "rev-list", "--parents", "deploy"), "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			t.Errorf("deploy commit %s has %d parents", f[0], len(f)-1)
		}
	}
	sources := strings.Fields(gittest.Git(t, dir, "log", "--reverse", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"))
	for i := 1; i < len(sources); i++ {
		if _, err := gittest.GitE(t.Context(), dir, "merge-base", "--is-ancestor", sources[i-1], sources[i]); err != nil {
			t.Errorf("deploy history goes back: source %s follows %s", sources[i][:12], sources[i-1][:12])
		}
	}
	if head := gittest.Git(t, dir, "rev-parse", "main"); len(sources) == 0 || sources[len(sources)-1] != head {
		t.Errorf("newest deploy is not of the source head %s: %v", head, sources)
	}
}

// TestConcurrentDeployers races 20 deployers, each with its own clone, on
// one smart-HTTP remote while the source branch moves.
func TestConcurrentDeployers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := filepath.Join(root, "shop.git")
	gittest.InitBare(t, bare)
	srv := gittest.Serve(t, root)
	work := gittest.FixtureRepo(t, fixtureRepo)
	gittest.Git(t, work, "push", "-q", bare, "main")
	url := srv.URL + "/shop.git"

	const deployers, sourceCommits = 20, 6
	ds := make([]*Deployer, deployers)
	for i := range ds {
		r := open(t, url)
		ds[i] = newDeployer(t, r, r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, deployers*4)
	wg.Go(func() {
		for i := range sourceCommits {
			gittest.Commit(t, work, fmt.Sprintf("Scale web to %d", i+2), map[string][]byte{
				"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", i+2)),
			})
			gittest.Git(t, work, "push", "-q", bare, "main")
			time.Sleep(20 * time.Millisecond)
		}
	})
	deployAll := func(rounds int) {
		for _, d := range ds {
			wg.Go(func() {
				for range rounds {
					if _, err := d.Deploy(t.Context()); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	deployAll(3)
	wg.Wait()
	deployAll(1) // all after the last source commit
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	gittest.Fsck(t, bare)
	checkLinearDeploys(t, bare)
	if diff := cmp.Diff(compileDir(t, bare, "main"), deployedTree(t, bare, "deploy")); diff != "" {
		t.Errorf("final deploy tree differs from compile(main):\n%s", diff)
	}
	t.Logf("%s deploy commits for %d source commits", gittest.Git(t, bare, "rev-list", "--count", "deploy"), sourceCommits+1)
}

// TestHelperDeploy is not a test: TestCrashSafety runs the test binary
// with SLIPWAY_DEPLOY_HELPER set, to have a deploy process it can kill.
func TestHelperDeploy(t *testing.T) {
	dir := os.Getenv("SLIPWAY_DEPLOY_HELPER")
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	r, err := gitrepo.Open(context.Background(), dir, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newDeployer(t, r, r).Deploy(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCrashSafety kills deploy processes at random points: the deploy
// branch must always be at the old or the new commit, and the repository
// must stay sound.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	rng := rand.New(rand.NewPCG(1, 2))
	killed, finished := 0, 0
	for i := range 25 {
		gittest.Commit(t, dir, fmt.Sprintf("Scale web to %d", i+2), map[string][]byte{
			"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", i+2)),
		})
		old, _ := gittest.GitE(t.Context(), dir, "rev-parse", "-q", "--verify", "deploy")
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperDeploy$")
		cmd.Env = append(gittest.Env(), "SLIPWAY_DEPLOY_HELPER="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("deploy helper failed: %v", err)
			}
			finished++
		case <-time.After(time.Duration(rng.IntN(250)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
		}
		now, _ := gittest.GitE(t.Context(), dir, "rev-parse", "-q", "--verify", "deploy")
		if now != old {
			parent, _ := gittest.GitE(t.Context(), dir, "rev-parse", "-q", "--verify", now+"^")
			if old != "" && parent != old {
				t.Fatalf("after a killed deploy the branch is at %s, whose parent %s is not the old head %s", now, parent, old)
			}
		}
		// A kill between creating and renaming the lock file leaves the
		// lock behind, as with git itself; the branch is still sound.
		lock := filepath.Join(dir, ".git", "refs", "heads", "deploy.lock")
		if _, err := os.Stat(lock); err == nil {
			os.Remove(lock)
		}
		gittest.Fsck(t, dir)
	}
	t.Logf("%d deploys killed, %d finished", killed, finished)
	if killed == 0 {
		t.Error("no deploy was killed; the test proved nothing")
	}
}
