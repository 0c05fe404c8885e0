package gitrepo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestOpenClonesADamagedCacheAgain opens a remote's cache whose ref file
// is empty, as a process killed while it fetched leaves it (go-git
// truncates a ref file before it writes it; the fault suite's restart of
// every replica found it): Open clones the remote again instead of
// failing at every start.
func TestOpenClonesADamagedCacheAgain(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	gittest.Git(t, root, "clone", "-q", "--bare", gittest.FixtureRepo(t, fixtureRepo), "workflows.git")
	head := gittest.Git(t, filepath.Join(root, "workflows.git"), "rev-parse", "main")
	source := gittest.Serve(t, root).URL + "/workflows.git"
	cache := t.TempDir()
	if _, err := Open(t.Context(), source, Options{CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	refs, err := filepath.Glob(filepath.Join(cache, "*.git", "refs", "remotes", "origin", "main"))
	if err != nil || len(refs) != 1 {
		t.Fatalf("want one cache with the ref of main, have %v (%v)", refs, err)
	}
	if err := os.WriteFile(refs[0], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), source, Options{CacheDir: cache})
	if err != nil {
		t.Fatalf("open the damaged cache: %v", err)
	}
	if got, err := r.Branch("main"); err != nil || got.String() != head {
		t.Errorf("main is %s (%v), want %s", got, err, head)
	}
}
