package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

func TestImportCompose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join("..", "..", "fixtures", "compose", "nginx-flask-mysql", "compose.yaml")
	out, report, deploy := filepath.Join(dir, "wf.json"), filepath.Join(dir, "report.json"), filepath.Join(dir, "deploy")
	code, stdout, stderr := runCmd(t, "import", "compose", file, "--name", "shop", "--status", "published", "-o", out, "--report", report, "--deploy-out", deploy)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout is not empty with -o: %s", stdout)
	}
	if !strings.Contains(stderr, "imported 8 nodes from compose.yaml") {
		t.Errorf("no summary: %s", stderr)
	}
	var wf struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &wf) != nil || wf.Name != "shop" || wf.Status != "published" {
		t.Errorf("workflow file: %v %+v", err, wf)
	}
	var r struct {
		Entries []struct{ Field, Status string } `json:"entries"`
	}
	b, err = os.ReadFile(report)
	if err != nil || json.Unmarshal(b, &r) != nil || len(r.Entries) < 20 {
		t.Errorf("report: %v, %d entries", err, len(r.Entries))
	}
	if _, err := os.Stat(filepath.Join(deploy, "workflows", "shop", "base", "statefulset-db.yaml")); err != nil {
		t.Errorf("deploy tree: %v", err)
	}

	code, stdout, _ = runCmd(t, "import", "compose", file)
	if code != 0 || !strings.Contains(stdout, `"status": "draft"`) {
		t.Errorf("without -o: exit %d, stdout %.200s", code, stdout)
	}
	for _, args := range [][]string{{"import"}, {"import", "kompose", "x"}, {"import", "compose"}, {"import", "compose", file, "--status", "live"}, {"import", "compose", file, "--git", "x"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestImportComposeFromGit clones a repository with go-git and finds its
// compose file.
func TestImportComposeFromGit(t *testing.T) {
	t.Parallel()
	repo := gittest.Init(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "compose", "flask-redis", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, repo, "Add app", map[string][]byte{"deploy/docker-compose.yml": raw})
	code, stdout, stderr := runCmd(t, "import", "compose", "--git", "file://"+repo, "--path", "deploy", "--ref", "main")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"cloning file://", "found deploy/docker-compose.yml", "imported "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, `"name": "redis"`) {
		t.Errorf("no redis workload:\n%.300s", stdout)
	}
	if code, _, stderr := runCmd(t, "import", "compose", "--git", "file://"+repo); code != 1 || !strings.Contains(stderr, "has no [compose.yaml") {
		t.Errorf("repository without a compose file at the root: exit %d, %s", code, stderr)
	}
}
