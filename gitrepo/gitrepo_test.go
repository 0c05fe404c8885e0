package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	allVersionsAgree(t, r, "shop", "batch")
}

// allVersionsAgree checks that AllVersions on main has the versions of
// Versions for each workflow it lists, and lists names among them.
func allVersionsAgree(t *testing.T, r *Repo, names ...string) {
	t.Helper()
	all, err := r.AllVersions(t.Context(), "main")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Version{}
	for _, name := range append(slices.Collect(maps.Keys(all)), names...) {
		if want[name], err = r.Versions(t.Context(), "main", name); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff(want, all, cmp.AllowUnexported(Version{})); d != "" {
		t.Errorf("AllVersions differs from Versions (-Versions +AllVersions):\n%s", d)
	}
}

// TestVersionsImported numbers the commits an import from KubeOrch made
// by their KubeOrch-Version trailers: a version that left the file as it
// was is one, a version missing from the import leaves its number out,
// another workflow's trailers do not count, and later commits and restores
// continue from KubeOrch's numbers; a restore names KubeOrch's number.
func TestVersionsImported(t *testing.T) {
	t.Parallel()
	day := time.Date(2025, 12, 4, 9, 0, 0, 0, time.UTC)
	file := func(s string) map[string][]byte { return map[string][]byte{"workflows/shop.json": []byte(s + "\n")} }
	imported := func(name string, n int) string {
		return fmt.Sprintf("KubeOrch version %d\n\nKubeOrch-Workflow: 6750a1c2\n%s: %d\n%s: %s\n", n, KubeOrchVersionTrailer, n, WorkflowTrailer, name)
	}
	changes := []Change{
		{Files: file(`{"v": 1}`), Message: imported("shop", 1)},
		{Files: file(`{"v": 2}`), Message: imported("shop", 2)},
		{Files: file(`{"v": 2}`), Message: imported("shop", 3)}, // a run: the same canvas
		{Files: map[string][]byte{"workflows/cart.json": []byte("{}\n")}, Message: imported("cart", 4)},
		{Files: file(`{"v": 2}`), Message: imported("cart", 5)}, // a version of cart, not of shop
		{Files: file(`{"v": 6}`), Message: imported("shop", 6)}, // 4 and 5 are not among the inputs
		{Files: file(`{"v": 7}`), Message: "Edited in git\n\nWorkflow: shop\nKubeOrch-Version: x\n"},
		{Files: file(`{"v": 7}`), Message: "Workflow: shop\nKubeOrch-Version: 9\n"}, // a subject, not trailers
	}
	for i := range changes {
		changes[i].Author, changes[i].When = author, day.Add(time.Duration(i)*time.Hour)
	}
	dir := gittest.Init(t)
	r := open(t, dir)
	if _, err := r.Append(t.Context(), "main", changes); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(t.Context(), "main", "shop", 3, author); err != nil {
		t.Fatal(err)
	}
	vs, err := r.Versions(t.Context(), "main", "shop")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		subject, _, _ := strings.Cut(v.Message, "\n")
		got = append(got, fmt.Sprintf("%d %s", v.Number, subject))
	}
	want := []string{"1 KubeOrch version 1", "2 KubeOrch version 2", "3 KubeOrch version 3", "6 KubeOrch version 6", "7 Edited in git", "8 Restore shop to version 3"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("versions (-want +got):\n%s", d)
	}
	allVersionsAgree(t, r, "shop", "cart")
	for n, content := range map[int]string{2: `{"v": 2}`, 3: `{"v": 2}`, 6: `{"v": 6}`, 8: `{"v": 2}`} {
		b, v, err := r.Show(t.Context(), "main", "shop", n)
		if err != nil || v.Number != n || string(b) != content+"\n" {
			t.Errorf("show %d: version %d, %q, %v; want %s", n, v.Number, b, err, content)
		}
	}
	_, _, err = r.Show(t.Context(), "main", "shop", 4)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `workflow "shop" has no version 4; its versions are 1..3, 6..8`) {
		t.Errorf("show 4: %v", err)
	}
	if d, err := r.Compare(t.Context(), "main", "shop", 2, 3); err != nil || !d.Empty() {
		t.Errorf("compare 2 3: %+v, %v; want no change", d, err)
	}
	if _, err := r.Compare(t.Context(), "main", "shop", 3, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("compare 3 5: %v, want ErrNotFound", err)
	}
	cart, err := r.Versions(t.Context(), "main", "cart")
	if err != nil || len(cart) != 2 || cart[0].Number != 4 || cart[1].Number != 5 {
		t.Errorf("cart: %+v, %v; want versions 4 and 5", cart, err)
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
