package gitrepo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	day := time.Date(2025, 12, 4, 9, 0, 0, 0, time.UTC)
	changes := []Change{
		{Files: map[string][]byte{"workflows/a.json": []byte("1\n")}, Author: author, When: day, Message: "One\n"},
		{Files: map[string][]byte{"workflows/a.json": []byte("2\n"), "clusters/c.json": []byte("{}\n")}, Author: author, When: day.Add(time.Hour), Message: "Two\n"},
	}
	t.Run("into a new repository, whose working tree follows", func(t *testing.T) {
		t.Parallel()
		dir := gittest.Init(t)
		c, err := open(t, dir).Append(t.Context(), "main", changes)
		if err != nil {
			t.Fatal(err)
		}
		if got := gittest.Git(t, dir, "log", "--format=%aI %cI %s", "main"); got != "2025-12-04T10:00:00+00:00 2025-12-04T10:00:00+00:00 Two\n2025-12-04T09:00:00+00:00 2025-12-04T09:00:00+00:00 One" {
			t.Errorf("log:\n%s", got)
		}
		if got := gittest.Git(t, dir, "rev-parse", "HEAD"); got != c.Hash.String() {
			t.Errorf("HEAD %s, want %s", got, c.Hash)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "workflows", "a.json")); err != nil || string(b) != "2\n" {
			t.Errorf("working tree: %q %v", b, err)
		}
		if st := gittest.Git(t, dir, "status", "--porcelain"); st != "" {
			t.Errorf("status: %s", st)
		}
		gittest.Fsck(t, dir)
	})
	t.Run("onto a branch, never over its files, all or nothing", func(t *testing.T) {
		t.Parallel()
		dir := gittest.FixtureRepo(t, fixtureRepo)
		head := gittest.Git(t, dir, "rev-parse", "main")
		r := open(t, dir)
		over := append(changes[:1:1], Change{Files: map[string][]byte{"workflows/shop.json": []byte("{}")}, Author: author, When: day, Message: "Over\n"})
		if _, err := r.Append(t.Context(), "main", over); !errors.Is(err, ErrExists) {
			t.Errorf("overwrite: %v", err)
		}
		if _, err := r.Append(t.Context(), "main", []Change{{Author: author, When: day, Message: "Empty\n"}}); err == nil {
			t.Error("a change without files was committed")
		}
		if got := gittest.Git(t, dir, "rev-parse", "main"); got != head {
			t.Fatalf("main moved to %s", got)
		}
		if _, err := r.Append(t.Context(), "main", changes); err != nil {
			t.Fatal(err)
		}
		if got := gittest.Git(t, dir, "rev-parse", "main~2"); got != head {
			t.Errorf("main~2 is %s, want the old head %s", got, head)
		}
	})
	t.Run("a committer other than the author, and a file written again unchanged", func(t *testing.T) {
		t.Parallel()
		dir := gittest.Init(t)
		ada := Signature{Name: "Ada", Email: "ada@example.com"}
		again := []Change{
			{Files: map[string][]byte{"workflows/a.json": []byte("1\n")}, Author: ada, Committer: author, When: day, Message: "One\n"},
			{Files: map[string][]byte{"workflows/a.json": []byte("1\n")}, Author: ada, Committer: author, When: day.Add(time.Hour), Message: "Run\n"},
		}
		if _, err := open(t, dir).Append(t.Context(), "main", again); err != nil {
			t.Fatal(err)
		}
		if got := gittest.Git(t, dir, "log", "--format=%an <%ae>|%cn <%ce>|%s", "main"); got != "Ada <ada@example.com>|Slipway <slipway@example.com>|Run\nAda <ada@example.com>|Slipway <slipway@example.com>|One" {
			t.Errorf("log:\n%s", got)
		}
		if got := gittest.Git(t, dir, "rev-parse", "main^{tree}"); got != gittest.Git(t, dir, "rev-parse", "main~1^{tree}") {
			t.Errorf("the unchanged file changed the tree")
		}
	})
	t.Run("a dirty working tree is left alone", func(t *testing.T) {
		t.Parallel()
		dir := gittest.FixtureRepo(t, fixtureRepo)
		if err := os.WriteFile(filepath.Join(dir, "workflows", "shop.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := open(t, dir).Append(t.Context(), "main", changes); !errors.Is(err, ErrDirtyWorktree) {
			t.Errorf("got %v", err)
		}
	})
}
