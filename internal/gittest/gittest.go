// Package gittest makes real git repositories for tests with the git
// command line, and serves them over smart HTTP with git-http-backend.
package gittest

import (
	"context"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// Env is the environment of every git command tests run: no user or
// system configuration, a fixed identity.
func Env() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent",
		"GIT_AUTHOR_NAME=Test Author", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Author", "GIT_COMMITTER_EMAIL=author@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// Git runs git in dir and returns its trimmed output, failing the test on
// error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := GitE(t.Context(), dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// GitE runs git in dir and returns its trimmed output and error.
func GitE(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Init creates a repository with a working tree on branch main.
func Init(t testing.TB) string {
	t.Helper()
	testutil.Tool(t, "git", "apt-get install git")
	dir := t.TempDir()
	Git(t, dir, "init", "-q", "-b", "main")
	return dir
}

// InitBare creates a bare repository that accepts pushes over HTTP.
func InitBare(t testing.TB, dir string) {
	t.Helper()
	testutil.Tool(t, "git", "apt-get install git")
	Git(t, filepath.Dir(dir), "init", "-q", "--bare", "-b", "main", dir)
	Git(t, dir, "config", "http.receivepack", "true")
}

// Commit writes files (a nil content deletes the file), stages everything
// and commits; it returns the new commit's hash.
func Commit(t testing.TB, dir, message string, files map[string][]byte) string {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if b == nil {
			if err := os.Remove(full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "--allow-empty", "-m", message)
	return Git(t, dir, "rev-parse", "HEAD")
}

// CopyDir copies the files of src into dst/prefix.
func CopyDir(t testing.TB, src, dst, prefix string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(filepath.Join(prefix, rel))] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Fsck runs git fsck --strict, failing the test on any problem.
func Fsck(t testing.TB, dir string) {
	t.Helper()
	Git(t, dir, "fsck", "--strict", "--no-progress")
}

// Server serves the repositories under root over git's smart HTTP
// protocol on loopback; a repository root/x.git is at URL()+"/x.git".
type Server struct {
	*httptest.Server
}

// Serve starts a git-http-backend server for the repositories under root.
func Serve(t testing.TB, root string) *Server {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		out, gerr := exec.Command("git", "--exec-path").Output()
		if gerr != nil {
			t.Fatalf("find git-http-backend: %v", gerr)
		}
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	h := &cgi.Handler{
		Path:   backend,
		Stderr: io.Discard, // lost races are expected: "cannot lock ref"
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{srv}
}
