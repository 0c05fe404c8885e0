package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		{name: "deploy with sources of another branch", args: append([]string{"deploy", "--workflow-sources", "other"}, src...), code: 2,
			stderr: []string{`--workflow-sources "other": the workflows' sources follow the deploy branch, --branch "deploy"`}},
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
	want := "earlier=1\nchanged-workflows=shop\nobjects-added=0\nobjects-changed=1\nobjects-removed=0\nconsequences=[]\ndiff-file=" + full + "\n"
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

// TestDiffConsequences reviews a change to a claim's storage class in a
// repository whose workflows are below its root: the consequence is in
// the JSON, the step outputs and a warning at the line of the field, and
// --fail-on fails on its kind only.
func TestDiffConsequences(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "Add the fixture workflows", gittest.CopyDir(t, fixtureRepo, dir, "deploy"))
	head := testutil.Marshal(t, testutil.Apply(t, testutil.LoadJSON(t, filepath.Join(fixtureRepo, "workflows/shop.json")),
		testutil.Set("/nodes/8/data/storageClassName", "slow")))
	gittest.Commit(t, dir, "Move uploads to slow disks", map[string][]byte{"deploy/workflows/shop.json": head})
	line := 1 + bytes.Count(head[:bytes.Index(head, []byte(`"slow"`))], []byte("\n"))
	col := 1 + bytes.Index(head, []byte(`"slow"`)) - (bytes.LastIndexByte(head[:bytes.Index(head, []byte(`"slow"`))], '\n') + 1)
	tmp := t.TempDir()
	annotations, outputs := filepath.Join(tmp, "annotations"), filepath.Join(tmp, "outputs")
	diff := []string{"diff", "--source", dir, "--path", "deploy", "--base", "main~1", "--head", "main"}
	const message = "persistentvolumeclaim uploads: storageClassName changed — immutable; Flux will stop applying workflow shop until this is reverted"

	code, stdout, stderr := runCmd(t, append(diff, "-o", "json", "--annotations", annotations, "--outputs", outputs, "--fail-on", "job-rerun,prune")...)
	if code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var r struct {
		Consequences []struct{ Kind, Workflow, Field, Message, File, Pointer string }
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, stdout)
	}
	if len(r.Consequences) != 1 || r.Consequences[0].Message != message || r.Consequences[0].Pointer != "/nodes/8/data/storageClassName" {
		t.Errorf("consequences %+v, want one: %s", r.Consequences, message)
	}
	got, err := os.ReadFile(annotations)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("::warning file=deploy/workflows/shop.json,line=%d,col=%d,title=slipway%%3A immutable (node \"pvc-uploads\")::%s\n", line, col, message)
	if string(got) != want {
		t.Errorf("annotations:\n%s\nwant:\n%s", got, want)
	}
	out, err := os.ReadFile(outputs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nconsequences=[{\"kind\":\"immutable\",\"workflow\":\"shop\",\"node_id\":\"pvc-uploads\"") {
		t.Errorf("outputs lack the consequence:\n%s", out)
	}

	for _, tc := range []struct {
		name   string
		failOn string
		code   int
		stderr string
	}{
		{"its kind", "prune, immutable", 1, "compiler: merging has 1 consequence of the kinds --fail-on names:\n  " + message + " [immutable]\n"},
		{"an unknown kind", "immutable,oops", 2, `"oops" is not a kind of consequence`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append(diff, "--fail-on", tc.failOn)...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit code %d, want %d; stderr %q, want %q", code, tc.code, stderr, tc.stderr)
			}
		})
	}
}
