package gitrepo

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestFetchPrunesOnlyDeletedBranches fetches a clone whose remote deleted
// a branch and rewrote another: the tracking ref of the deleted branch
// goes, the rewritten one follows the remote, and no other ref goes, not
// even for a moment. go-git's prune, given a refspec that starts with
// "+", removes every tracking ref and writes them again after; a reader
// in between finds every branch gone.
func TestFetchPrunesOnlyDeletedBranches(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	gittest.Git(t, root, "clone", "-q", "--bare", gittest.FixtureRepo(t, fixtureRepo), "workflows.git")
	remote := filepath.Join(root, "workflows.git")
	gittest.Git(t, remote, "branch", "gone", "main")
	r := open(t, gittest.Serve(t, root).URL+"/workflows.git")
	if h, err := r.Branch("gone"); err != nil || h.IsZero() {
		t.Fatalf("branch gone is %s (%v) after the clone", h, err)
	}
	gittest.Git(t, remote, "branch", "-D", "gone")
	rewritten := gittest.Git(t, remote, "commit-tree", "main^{tree}", "-m", "Rewritten")
	gittest.Git(t, remote, "update-ref", "refs/heads/main", rewritten)

	rec := &refRemovals{diskStorage: r.repo.Storer.(diskStorage)}
	repo, err := git.Open(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.repo = repo
	if err := r.Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []plumbing.ReferenceName{plumbing.NewRemoteReferenceName("origin", "gone")}
	if diff := cmp.Diff(want, rec.removed); diff != "" {
		t.Errorf("refs the fetch removed (-want +got):\n%s", diff)
	}
	if h, err := r.Branch("gone"); err != nil || !h.IsZero() {
		t.Errorf("branch gone is %s (%v) after the fetch, want none", h, err)
	}
	if h, err := r.Branch("main"); err != nil || h.String() != rewritten {
		t.Errorf("main is %s (%v), want the rewritten %s", h, err, rewritten)
	}
}

// refRemovals is a storage that records the refs removed from it.
type refRemovals struct {
	diskStorage
	mu      sync.Mutex
	removed []plumbing.ReferenceName
}

func (s *refRemovals) RemoveReference(name plumbing.ReferenceName) error {
	s.mu.Lock()
	s.removed = append(s.removed, name)
	s.mu.Unlock()
	return s.diskStorage.RemoveReference(name)
}
