package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// gitRepo makes a workflows repository with two versions of shop.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "Add the fixture workflows", gittest.CopyDir(t, fixtureRepo, dir, ""))
	doc := testutil.Apply(t, testutil.LoadJSON(t, filepath.Join(fixtureRepo, "workflows/shop.json")), testutil.Set("/nodes/3/data/replicas", 7))
	gittest.Commit(t, dir, "Scale web to 7", map[string][]byte{"workflows/shop.json": testutil.Marshal(t, doc)})
	return dir
}

func TestGitCommands(t *testing.T) {
	t.Parallel()
	dir := gitRepo(t)
	cache := t.TempDir()
	src := []string{"--source", dir, "--cache-dir", cache}
	steps := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "versions", args: append([]string{"versions", "shop"}, src...), stdout: []string{"VERSION", "1 ", "Add the fixture workflows", "2 ", "Scale web to 7"}},
		{name: "versions of nothing", args: append([]string{"versions", "nope"}, src...), code: 1, stderr: []string{`workflow "nope" has no versions on main: not found`}},
		{name: "versions without name", args: append([]string{"versions"}, src...), code: 2, stderr: []string{"want 1 arguments"}},
		{name: "show", args: append([]string{"show", "shop", "2"}, src...), stdout: []string{`"replicas":7`}},
		{name: "show bad version", args: append([]string{"show", "shop", "two"}, src...), code: 2, stderr: []string{`version "two" must be a number`}},
		{name: "compare", args: append([]string{"compare", "shop", "1", "2"}, src...), stdout: []string{`modified node web (deployment "web"): /data/replicas: 2 → 7`}},
		{name: "diff", args: append([]string{"diff", "--base", "main~1", "--head", "main", "--format", "markdown"}, src...), stdout: []string{"### Slipway: 1 workflow changed: 0 objects added, 0 removed, 1 modified", "-  replicas: 2", "+  replicas: 7"}},
		{name: "deploy", args: append([]string{"deploy"}, src...), stdout: []string{"deployed main (", "on deploy: 20 objects"}},
		{name: "deploy again", args: append([]string{"deploy"}, src...), stdout: []string{"deploy is up to date with main"}},
		{name: "restore", args: append([]string{"restore", "shop", "1"}, src...), stdout: []string{"restored shop to version 1 as commit"}},
		{name: "deploy the restore", args: append([]string{"deploy"}, src...), stdout: []string{"deployed main ("}},
	}
	for _, s := range steps {
		code, stdout, stderr := runCmd(t, s.args...)
		if code != s.code {
			t.Fatalf("%s: exit code %d, want %d\nstdout: %s\nstderr: %s", s.name, code, s.code, stdout, stderr)
		}
		for _, w := range s.stdout {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, stdout)
			}
		}
		for _, w := range s.stderr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", s.name, w, stderr)
			}
		}
	}
	gittest.Fsck(t, dir)
	if got := gittest.Git(t, dir, "log", "--format=%s", "-1", "main"); got != "Restore shop to version 1" {
		t.Errorf("main's last commit is %q", got)
	}
	if got := gittest.Git(t, dir, "rev-list", "--count", "deploy"); got != "2" {
		t.Errorf("deploy has %s commits, want 2", got)
	}

	code, stdout, _ := runCmd(t, append([]string{"versions", "shop", "-o", "json"}, src...)...)
	var vs []struct {
		Version int    `json:"version"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(stdout), &vs); code != 0 || err != nil || len(vs) != 3 || vs[2].Message != "Restore shop to version 1" {
		t.Errorf("versions -o json: code %d, %v, %+v", code, err, vs)
	}
}

func TestDiffOfInvalidHead(t *testing.T) {
	t.Parallel()
	dir := gitRepo(t)
	doc := testutil.Apply(t, testutil.LoadJSON(t, filepath.Join(fixtureRepo, "workflows/shop.json")), testutil.Set("/nodes/3/data/port", 0.5))
	gittest.Commit(t, dir, "Break", map[string][]byte{"workflows/shop.json": testutil.Marshal(t, doc)})
	code, stdout, _ := runCmd(t, "diff", "--source", dir, "--base", "main~1", "--head", "main")
	if code != 1 || !strings.Contains(stdout, "/nodes/3/data/port: must be a whole number") {
		t.Errorf("diff of an invalid head: code %d\n%s", code, stdout)
	}
}

func TestDiffForActions(t *testing.T) {
	t.Parallel()
	dir := gitRepo(t)
	tmp := t.TempDir()
	outputs, full := filepath.Join(tmp, "outputs"), filepath.Join(tmp, "review.txt")
	if err := os.WriteFile(outputs, []byte("earlier=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"changes", []string{"--outputs", outputs, "--diff-file", full}, 0},
		{"changes with --exit-code", []string{"--exit-code"}, 1},
		{"no changes with --exit-code", []string{"--exit-code", "--base", "main"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"diff", "--source", dir, "--base", "main~1", "--head", "main", "--format", "markdown"}, tc.args...)
			if code, stdout, stderr := runCmd(t, args...); code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
		})
	}
	got, err := os.ReadFile(outputs)
	if err != nil {
		t.Fatal(err)
	}
	want := "earlier=1\nchanged-workflows=shop\nobjects-added=0\nobjects-changed=1\nobjects-removed=0\ndiff-file=" + full + "\n"
	if string(got) != want {
		t.Errorf("outputs file:\n%s\nwant:\n%s", got, want)
	}
	text, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "modified prod Deployment shop/web\n  spec.replicas: 2 → 7\n") {
		t.Errorf("diff file lacks the changed field:\n%s", text)
	}
}
