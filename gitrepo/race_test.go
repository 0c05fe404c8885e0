package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestConcurrentUse uses one Repo from many goroutines at once, as the
// service does (its deploy worker, status page and canvas API share one):
// readers resolve, read commits, walk trees, list versions and read
// files, through the Repo and through the objects it returned, while a
// clone fetches new packs, or all at once as the first reads of a
// repository opened afresh. go-git's storage fills its pack index on
// first use and adds to it on every fetch; unguarded, that is a data race
// or a fatal concurrent map write.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	t.Run("reads while a clone fetches", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		gittest.Git(t, root, "clone", "-q", "--bare", gittest.FixtureRepo(t, fixtureRepo), "workflows.git")
		remote := filepath.Join(root, "workflows.git")
		r := open(t, gittest.Serve(t, root).URL+"/workflows.git")
		readWhile(t, r, func() {
			for i := range 8 {
				shop := gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/description", fmt.Sprint("round ", i)))
				gittest.ImportCommits(t, remote, true, []map[string][]byte{{"workflows/shop.json": shop}})
				if err := r.Fetch(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
		})
		want := gittest.Git(t, remote, "rev-parse", "main")
		if got, err := r.Branch("main"); err != nil || got.String() != want {
			t.Errorf("main is %s (%v) after the fetches, want %s", got, err, want)
		}
	})
	t.Run("first reads of a repository", func(t *testing.T) {
		t.Parallel()
		dir := gittest.FixtureRepo(t, fixtureRepo)
		gittest.Git(t, dir, "repack", "-a", "-d", "-q")
		readWhile(t, open(t, dir), func() {})
	})
}

// readWhile starts readers of r together, runs work and waits for the
// readers, each of which reads at least once and until work returns.
func readWhile(t *testing.T, r *Repo, work func()) {
	t.Helper()
	start, done := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			<-start
			for {
				if err := readEverything(t, r); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	close(start)
	work()
	close(done)
	wg.Wait()
}

// readEverything fetches r, as every request of the canvas does, and
// reads main in every way the service does.
func readEverything(t *testing.T, r *Repo) error {
	if err := r.Fetch(t.Context()); err != nil {
		return err
	}
	h, err := r.Branch("main")
	if err != nil {
		return err
	}
	if h.IsZero() {
		return errors.New("main reads as absent")
	}
	c, err := r.Resolve("main")
	if err != nil {
		return err
	}
	if _, err := r.Resolve(h.String()[:10]); err != nil {
		return err
	}
	if _, err := r.Commit(h); err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	err = tree.Files().ForEach(func(f *object.File) error {
		rd, err := f.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		_, err = io.Copy(io.Discard, rd)
		return err
	})
	if err != nil {
		return fmt.Errorf("walk the tree of %s: %w", c.Hash, err)
	}
	if _, err := r.Versions(t.Context(), "main", "shop"); err != nil {
		return err
	}
	if _, err := r.AllVersions(t.Context(), "main"); err != nil {
		return err
	}
	if _, err := r.Source(c); err != nil {
		return err
	}
	if _, err := r.Dir(c, "workflows"); err != nil {
		return err
	}
	if _, err := r.History("main", 3); err != nil {
		return err
	}
	return nil
}
