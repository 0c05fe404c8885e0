package gitrepo

import (
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestIterationsMayReadTheStorage walks the objects of a repository in
// the ways go-git does with a callback that reads the storage again: the
// lock is not held while the callback runs, or the walk would never end.
func TestIterationsMayReadTheStorage(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	gittest.Git(t, dir, "hash-object", "-w", "--stdin") // a loose object no ref reaches
	r := open(t, dir)
	tests := []struct {
		name string
		walk func(read func(plumbing.Hash) error) error
	}{
		{"objects", func(read func(plumbing.Hash) error) error {
			iter, err := r.repo.CommitObjects()
			if err != nil {
				return err
			}
			return iter.ForEach(func(c *object.Commit) error { return read(c.TreeHash) })
		}},
		{"loose objects", func(read func(plumbing.Hash) error) error {
			return r.repo.Prune(git.PruneOptions{
				OnlyObjectsOlderThan: time.Now().Add(time.Hour), // reads each object's time
				Handler:              read,
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := 0
			err := tt.walk(func(h plumbing.Hash) error {
				n++
				return r.repo.Storer.HasEncodedObject(h)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Error("the walk found no object")
			}
		})
	}
}
