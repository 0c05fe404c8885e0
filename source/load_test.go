package source_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// loadFixtures loads the fixture repository with a new Loader.
func loadFixtures(t *testing.T) (source.Files, *source.Loader, *source.Repository) {
	t.Helper()
	files, err := source.ReadDir(os.DirFS("../fixtures/repo"))
	if err != nil {
		t.Fatal(err)
	}
	l := &source.Loader{}
	repo, err := l.Load(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	return files, l, repo
}

func TestLoader(t *testing.T) {
	t.Parallel()
	files, l, first := loadFixtures(t)
	if err := first.Err(); err != nil {
		t.Fatalf("the fixture repository is invalid: %v", err)
	}
	if first.Decoded != len(first.Workflows) || len(first.Clusters) == 0 {
		t.Fatalf("decoded %d of %d workflows and %d clusters", first.Decoded, len(first.Workflows), len(first.Clusters))
	}

	broken := source.Files{}
	for p, b := range files {
		broken[p] = b
	}
	broken["clusters/edge.json"] = []byte(`{"name": "not-edge"}`)
	second, err := l.Load(t.Context(), broken)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("unchanged files are not decoded again", func(t *testing.T) {
		if second.Decoded != 0 {
			t.Errorf("decoded %d workflows again", second.Decoded)
		}
		for i, w := range second.Workflows {
			if w != first.Workflows[i] {
				t.Errorf("%s was decoded again", w.Name)
			}
		}
	})
	t.Run("an invalid cluster file is a problem of the repository", func(t *testing.T) {
		problems := workflow.AsErrors(second.Err())
		if len(problems) == 0 || len(second.Invalid["clusters/edge.json"]) == 0 {
			t.Fatalf("no problem with clusters/edge.json: %v", second.Err())
		}
		for _, e := range problems {
			if e.File != "clusters/edge.json" {
				t.Errorf("a problem of another file: %v", e)
			}
		}
		if got := second.Problems(); len(got) < len(problems) {
			t.Errorf("Problems lists %d, Err %d", len(got), len(problems))
		}
	})
}

func TestReadDirRefusesSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/workflows", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", dir+"/workflows/x.json"); err != nil {
		t.Fatal(err)
	}
	_, err := source.ReadDir(os.DirFS(dir))
	if want := source.SymlinkError("workflows/x.json"); err == nil || err.Error() != want.Error() {
		t.Errorf("got %v, want %v", err, want)
	}
}

// TestLoaderPlugins checks that the plugin definitions of the repository
// take part in decoding: a change to one decodes every workflow again,
// and a bad one is a problem of its file.
func TestLoaderPlugins(t *testing.T) {
	t.Parallel()
	files, l, first := loadFixtures(t)
	files["plugins/broken.json"] = []byte(`{"id":"other","nodeTypes":[]}`)
	second, err := l.Load(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	if second.Decoded != len(first.Workflows) {
		t.Errorf("decoded %d of %d workflows after a plugin file changed", second.Decoded, len(first.Workflows))
	}
	want := `plugins/broken.json: /id: "other" must equal the file name "broken"`
	if err := second.Err(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestDirectorySymlinks: a repository whose workflows/, clusters/ or
// plugins/ is a symbolic link to a directory outside it is refused with
// the directory's path when read from its checkout, and nothing of the
// directory outside is read, from its checkout or from its commits.
func TestDirectorySymlinks(t *testing.T) {
	t.Parallel()
	for _, dir := range source.Dirs() {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			outside := t.TempDir()
			const secret = "outside-the-repository"
			if err := os.WriteFile(filepath.Join(outside, "stolen.json"), []byte(`{"name":"`+secret+`"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			repo := gittest.FixtureRepo(t, "../fixtures/repo")
			if err := os.RemoveAll(filepath.Join(repo, dir)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(repo, dir)); err != nil {
				t.Fatal(err)
			}
			gittest.Git(t, repo, "add", "-A")
			gittest.Git(t, repo, "commit", "-q", "-m", "Link "+dir+" outside")
			want := source.SymlinkError(dir).Error()

			t.Run("checkout", func(t *testing.T) {
				files, err := source.ReadDir(os.DirFS(repo))
				if err == nil || err.Error() != want {
					t.Errorf("got %v, want %s", err, want)
				}
				if files != nil {
					t.Errorf("read %d files", len(files))
				}
			})
			t.Run("commit", func(t *testing.T) {
				r, err := gitrepo.Open(t.Context(), repo, gitrepo.Options{CacheDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				head, err := r.Resolve("main")
				if err != nil {
					t.Fatal(err)
				}
				// A link in git is a blob that holds its target's path: it
				// cannot be followed out of the repository.
				files, err := r.Source(head)
				for p, b := range files {
					if strings.Contains(string(b), secret) {
						t.Errorf("read %s from outside the repository", p)
					}
				}
				if err == nil || err.Error() != want {
					t.Errorf("got %v, want %s; read %v", err, want, slices.Sorted(maps.Keys(files)))
				}
			})
		})
	}
}
