package gitrepo

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestSourceAt reads a workflows repository kept in a directory of a
// larger repository, as a project keeps its deploy sources next to code.
func TestSourceAt(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "Add the workflows next to the code", gittest.CopyDir(t, fixtureRepo, dir, "deploy/src"))
	r := open(t, dir)
	c, err := r.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	root := open(t, newSourceRepo(t))
	rc, err := root.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	want, err := root.Source(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"deploy/src", "/deploy/src/", "./deploy/src"} {
		t.Run(sub, func(t *testing.T) {
			got, err := r.SourceAt(c, sub)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("source differs (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		if _, err := r.SourceAt(c, "nope"); err == nil {
			t.Error("a missing directory read as a source")
		}
	})
}
