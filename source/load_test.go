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

// sourceOfCommit reads the files of the head of main of the repository
// checked out in dir, as the service reads them.
func sourceOfCommit(t *testing.T, dir string) (source.Files, error) {
	t.Helper()
	r, err := gitrepo.Open(t.Context(), dir, gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	return r.Source(head)
}

// TestSecretFiles: the encrypted Secrets of secret nodes,
// secrets/<workflow>/<secret>.sops.yaml, are read from a checkout and
// from a commit alike, and nothing else under secrets/.
func TestSecretFiles(t *testing.T) {
	t.Parallel()
	repo := gittest.FixtureRepo(t, "../fixtures/repo")
	gittest.Commit(t, repo, "Add secrets", map[string][]byte{
		"secrets/shop/api-keys.sops.yaml":       []byte("kind: Secret\n"),
		"secrets/shop/notes.txt":                []byte("notes"),
		"secrets/shop/old/api-keys.sops.yaml":   []byte("too deep"),
		"secrets/api-keys.sops.yaml":            []byte("too shallow"),
		"workflows/shop/api-keys.sops.yaml":     []byte("not under secrets"),
		"secrets/batch/.sops.yaml":              []byte("no name"),
		"secrets/batch/db-password.sops.yaml":   []byte("kind: Secret\n"),
		"secrets/batch/db-password.sops.yaml~":  []byte("a backup"),
		"secrets/batch/db-password.sops.yml":    []byte("another suffix"),
		"secrets/shop/api-keys.sops.yaml.orig":  []byte("another suffix"),
		"secrets/shop/api-keys.enc.sops.yaml":   []byte("kind: Secret\n"),
		"secrets/shop/api-keys.sops.yaml.d/x":   []byte("a directory"),
		"secrets/batch/nested/x/y.sops.yaml":    []byte("too deep"),
		"secrets/batch/db-password.sops.yaml.1": []byte("another suffix"),
	})
	want := []string{"secrets/batch/db-password.sops.yaml", "secrets/shop/api-keys.enc.sops.yaml", "secrets/shop/api-keys.sops.yaml"}
	secrets := func(files source.Files) []string {
		var got []string
		for p := range files {
			if strings.HasPrefix(p, "secrets/") {
				got = append(got, p)
			}
		}
		slices.Sort(got)
		return got
	}
	checkout, err := source.ReadDir(os.DirFS(repo))
	if err != nil {
		t.Fatal(err)
	}
	commit, err := sourceOfCommit(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string]source.Files{"checkout": checkout, "commit": commit} {
		if got := secrets(files); !slices.Equal(got, want) {
			t.Errorf("%s: read %v, want %v", name, got, want)
		}
	}
}

// TestSecretSymlinks: secrets/, a workflow's directory under it or an
// encrypted Secret that is a symbolic link is refused with its path, from
// a checkout and from a commit, and nothing outside is read.
func TestSecretSymlinks(t *testing.T) {
	t.Parallel()
	for _, link := range []string{"secrets", "secrets/shop", "secrets/shop/api-keys.sops.yaml"} {
		t.Run(link, func(t *testing.T) {
			t.Parallel()
			outside := t.TempDir()
			const secret = "outside-the-repository"
			target := filepath.Join(outside, "shop", "api-keys.sops.yaml")
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, []byte(secret), 0o600); err != nil {
				t.Fatal(err)
			}
			repo := gittest.FixtureRepo(t, "../fixtures/repo")
			if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(link)), 0o755); err != nil {
				t.Fatal(err)
			}
			to := outside
			for range strings.Count(link, "/") {
				to = filepath.Join(to, "shop")
			}
			if link == "secrets/shop/api-keys.sops.yaml" {
				to = target
			}
			if err := os.Symlink(to, filepath.Join(repo, link)); err != nil {
				t.Fatal(err)
			}
			gittest.Git(t, repo, "add", "-A")
			gittest.Git(t, repo, "commit", "-q", "-m", "Link "+link+" outside")
			want := source.SymlinkError(link).Error()
			for name, read := range map[string]func() (source.Files, error){
				"checkout": func() (source.Files, error) { return source.ReadDir(os.DirFS(repo)) },
				"commit":   func() (source.Files, error) { return sourceOfCommit(t, repo) },
			} {
				files, err := read()
				if err == nil || err.Error() != want {
					t.Errorf("%s: got %v, want %s", name, err, want)
				}
				for p, b := range files {
					if strings.Contains(string(b), secret) {
						t.Errorf("%s: read %s from outside the repository", name, p)
					}
				}
			}
		})
	}
}
