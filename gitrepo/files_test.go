package gitrepo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// TestHugeBlobRefusedUnread: a workflow file far over the size limit is
// refused from its object header, before it is inflated, whether loose or
// packed. Not parallel: it counts the bytes the process allocates.
func TestHugeBlobRefusedUnread(t *testing.T) {
	const huge = 64 << 20 // compresses to almost nothing, inflates whole
	for _, packed := range []bool{false, true} {
		name := map[bool]string{false: "loose", true: "packed"}[packed]
		t.Run(name, func(t *testing.T) {
			dir := gittest.FixtureRepo(t, fixtureRepo)
			gittest.Commit(t, dir, "Add a huge workflow", map[string][]byte{"workflows/huge.json": bytes.Repeat([]byte(" "), huge)})
			if packed {
				gittest.Git(t, dir, "gc", "-q")
			}
			r := open(t, dir)
			head, err := r.Resolve("main")
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = r.Source(head)
			runtime.ReadMemStats(&after)
			var problems workflow.Errors
			if !errors.As(err, &problems) || len(problems) != 1 || problems[0].File != "workflows/huge.json" || !strings.Contains(problems[0].Message, "the limit is") {
				t.Errorf("huge workflow: %v, want a problem of its file", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > huge/4 {
				t.Errorf("reading the source allocated %d MiB for a %d MiB blob it refuses", got>>20, huge>>20)
			}
		})
	}
}

// TestSourceRefusesSymlinks: a workflow or cluster file committed as a
// symbolic link is refused with its path, as a directory source refuses
// one, and its target is never read.
func TestSourceRefusesSymlinks(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"workflows/passwd.json", "clusters/passwd.json"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			dir := gittest.FixtureRepo(t, fixtureRepo)
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
			gittest.Git(t, dir, "add", "-A")
			gittest.Git(t, dir, "commit", "-q", "-m", "Link a file outside")
			r := open(t, dir)
			head, err := r.Resolve("main")
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Source(head)
			if err == nil || err.Error() != source.SymlinkError(p).Error() {
				t.Errorf("got %v, want %v", err, source.SymlinkError(p))
			}
		})
	}
}

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
	root := open(t, gittest.FixtureRepo(t, fixtureRepo))
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
