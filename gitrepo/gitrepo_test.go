package gitrepo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

const fixtureRepo = "../fixtures/repo"

var author = Signature{Name: "Slipway", Email: "slipway@example.com"}

func open(t *testing.T, source string) *Repo {
	t.Helper()
	r, err := Open(t.Context(), source, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVersions(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	v2 := gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", 5))
	gittest.Commit(t, dir, "Unrelated change", map[string][]byte{"README.md": []byte("hi\n")})
	gittest.Commit(t, dir, "Scale web to 5", map[string][]byte{"workflows/shop.json": v2})
	gittest.Commit(t, dir, "Drop shop", map[string][]byte{"workflows/shop.json": nil})
	gittest.Commit(t, dir, "Other workflow", map[string][]byte{"workflows/batch.json": gittest.FixtureFile(t, fixtureRepo, "workflows/batch.json", testutil.Set("/description", "x"))})
	v3 := gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/description", "back"))
	gittest.Commit(t, dir, "Bring shop back", map[string][]byte{"workflows/shop.json": v3})

	r := open(t, dir)
	vs, err := r.Versions(t.Context(), "main", "shop")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, strings.Join([]string{string(rune('0' + v.Number)), v.Message, v.Author}, "|"))
	}
	want := []string{"1|Add the fixture workflows|Test Author", "2|Scale web to 5|Test Author", "3|Bring shop back|Test Author"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if vs[1].Commit != gittest.Git(t, dir, "rev-parse", "HEAD~3") {
		t.Errorf("version 2 is commit %s", vs[1].Commit)
	}
	b, v, err := r.Show(t.Context(), "main", "shop", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, v2) || v.Number != 2 {
		t.Errorf("Show returned version %d with other content", v.Number)
	}
	if _, _, err := r.Show(t.Context(), "main", "shop", 4); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show of version 4: %v, want ErrNotFound", err)
	}
	if _, err := r.Versions(t.Context(), "main", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Versions of a missing workflow: %v, want ErrNotFound", err)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	gittest.Commit(t, dir, "Change shop", map[string][]byte{"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json",
		testutil.Set("/nodes/3/data/replicas", 5),
		testutil.Set("/nodes/4/position", map[string]any{"x": 900, "y": 900}),
		testutil.Set("/edges/9/target", "web"),
	)})
	d, err := open(t, dir).Compare(t.Context(), "main", "shop", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ModifiedNodes) != 1 || d.ModifiedNodes[0].NodeID != "web" || d.ModifiedNodes[0].Changes[0].Path != "/data/replicas" {
		t.Errorf("modified nodes: %+v", d.ModifiedNodes)
	}
	if len(d.MovedNodes) != 1 || d.MovedNodes[0].NodeID != "api" {
		t.Errorf("moved nodes: %+v", d.MovedNodes)
	}
	if len(d.ModifiedEdges) != 1 || d.ModifiedEdges[0].EdgeID != "e10" {
		t.Errorf("modified edges: %+v", d.ModifiedEdges)
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	v1, err := os.ReadFile(filepath.Join(fixtureRepo, "workflows/shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, dir, "Scale", map[string][]byte{"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", 9))})
	r := open(t, dir)
	c, err := r.Restore(t.Context(), "main", "shop", 1, author)
	if err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, dir, "log", "-1", "--format=%s|%an"); got != "Restore shop to version 1|Slipway" {
		t.Errorf("git log shows %q", got)
	}
	if got := gittest.Git(t, dir, "rev-parse", "HEAD"); got != c.Hash.String() {
		t.Errorf("HEAD is %s, want %s", got, c.Hash)
	}
	if got := gittest.Git(t, dir, "show", "HEAD:workflows/shop.json"); got != strings.TrimSpace(string(v1)) {
		t.Error("restored content differs from version 1")
	}
	if st := gittest.Git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("working tree not updated: %s", st)
	}
	gittest.Fsck(t, dir)
	vs, err := r.Versions(t.Context(), "main", "shop")
	if err != nil || len(vs) != 3 {
		t.Fatalf("after restore: %d versions, %v", len(vs), err)
	}
	if _, err := r.Restore(t.Context(), "main", "shop", 3, author); !errors.Is(err, ErrUnchanged) {
		t.Errorf("restoring the current content: %v, want ErrUnchanged", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "workflows", "shop.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(t.Context(), "main", "shop", 2, author); !errors.Is(err, ErrDirtyWorktree) {
		t.Errorf("restore with local changes: %v, want ErrDirtyWorktree", err)
	}
}
