package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// copyFixture copies the fixture repository into a new directory.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, b := range gittest.CopyDir(t, fixtureRepo, "", "") {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildKeepsTheSource: an output directory whose replaced clusters/
// and workflows/ would be, hold or sit inside the source's is refused
// before anything is written; one beside or under the source is fine.
func TestBuildKeepsTheSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     func(src string) string
		refused bool
	}{
		{"out is the source", func(src string) string { return src }, true},
		{"out is the source, spelled otherwise", func(src string) string { return src + "/workflows/.." }, true},
		{"out is the source's workflows", func(src string) string { return filepath.Join(src, "workflows") }, true},
		{"out is inside the source's clusters", func(src string) string { return filepath.Join(src, "clusters", "x") }, true},
		{"out is a link to the source", func(src string) string {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(src, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, true},
		{"out under the source", func(src string) string { return filepath.Join(src, "deploy") }, false},
		{"out beside the source", func(src string) string { return src + "-deploy" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := copyFixture(t)
			before := gittest.CopyDir(t, src, "", "")
			code, _, stderr := runCmd(t, "build", "--source", src, "--out", tt.out(src))
			if tt.refused != (code == exitUsage) {
				t.Errorf("exit code %d (refused: %t): %s", code, tt.refused, stderr)
			}
			if tt.refused && !strings.Contains(stderr, "would replace") {
				t.Errorf("stderr: %s", stderr)
			}
			for p, b := range before {
				if !strings.HasPrefix(p, "workflows/") && !strings.HasPrefix(p, "clusters/") {
					continue
				}
				got, err := os.ReadFile(filepath.Join(src, p))
				if err != nil || string(got) != string(b) {
					t.Errorf("source file %s changed: %v", p, err)
				}
			}
		})
	}
}

// TestDirectorySourceRefusesSymlinks: a workflow or cluster file that is a
// symbolic link is refused with its path, its target never read or shown.
func TestDirectorySourceRefusesSymlinks(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(secret, []byte("root:x:0:0:secret-content"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"workflows/passwd.json", "clusters/passwd.json"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			src := copyFixture(t)
			if err := os.Symlink(secret, filepath.Join(src, p)); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCmd(t, "check", "--source", src)
			if code != exitFailed || !strings.Contains(stderr, p+": is a symbolic link") {
				t.Errorf("exit code %d: %s", code, stderr)
			}
			if strings.Contains(stdout+stderr, "root") || strings.Contains(stdout+stderr, "secret-content") {
				t.Errorf("the link's target shows: %s%s", stdout, stderr)
			}
		})
	}
}
