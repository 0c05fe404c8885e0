package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtureRepo = "../../fixtures/repo"

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

// badRepo copies the fixture repository with one workflow broken.
func badRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"workflows", "clusters"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(fixtureRepo, sub, "*.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(f) == "shop.json" {
				b = bytes.Replace(b, []byte(`"port": 8080,
        "ports"`), []byte(`"port": 70000,
        "ports"`), 1)
			}
			if err := os.WriteFile(filepath.Join(dir, sub, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestCommands(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	bad := badRepo(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		notWritten string
	}{
		{name: "help", args: []string{"--help"}, stdout: []string{"Commands:", "build", "check", "Exit codes"}},
		{name: "no command", args: nil, code: 2, stderr: []string{"compiler: no command given"}},
		{name: "unknown command", args: []string{"deploy-all"}, code: 2, stderr: []string{`unknown command "deploy-all"`}},
		{name: "build help", args: []string{"build", "--help"}, stdout: []string{"Usage: compiler build", "-source-ref"}},
		{name: "bad flag", args: []string{"check", "--nope"}, code: 2, stderr: []string{"flag provided but not defined: -nope"}},
		{name: "missing source", args: []string{"check"}, code: 2, stderr: []string{"--source is required"}},
		{name: "missing out", args: []string{"build", "--source", fixtureRepo}, code: 2, stderr: []string{"--out is required"}},
		{name: "bad output format", args: []string{"check", "--source", fixtureRepo, "-o", "yaml"}, code: 2, stderr: []string{"must be text, json or github"}},
		{name: "annotations only where asked", args: []string{"versions", "--source", fixtureRepo, "-o", "github", "shop"}, code: 2, stderr: []string{"must be text or json"}},
		{name: "bad option", args: []string{"build", "--source", fixtureRepo, "--out", out, "--interval", "0s"}, code: 2, stderr: []string{"interval must be positive"}},
		{name: "check", args: []string{"check", "--source", fixtureRepo}, stdout: []string{"valid: 5 workflows on 2 clusters, 20 objects rendered and checked with kustomize"}},
		{name: "build", args: []string{"build", "--source", fixtureRepo, "--out", out}, stdout: []string{"built 3 published workflows of 5 workflows for 2 clusters: 20 objects in 34 files under " + out}},
		{name: "check invalid", args: []string{"check", "--source", bad}, code: 1, stderr: []string{`workflows/shop.json: /nodes/4/data/port: must be 1..65535, not 70000 (node "api")`}},
		{name: "check invalid, annotated", args: []string{"check", "--source", bad, "-o", "github"}, code: 1,
			stdout: []string{"::error file=" + filepath.ToSlash(bad) + `/workflows/shop.json,line=77,col=17,title=slipway%3A workflows/shop.json /nodes/4/data/port (node "api")::must be 1..65535, not 70000` + "\n"}},
		{name: "build invalid writes nothing", args: []string{"build", "--source", bad, "--out", filepath.Join(out, "never")}, code: 1, stderr: []string{"must be 1..65535"}, notWritten: filepath.Join(out, "never")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tt.notWritten != "" {
				if _, err := os.Stat(tt.notWritten); !os.IsNotExist(err) {
					t.Errorf("%s exists after a failed build", tt.notWritten)
				}
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runCmd(t, "check", "--source", fixtureRepo, "-o", "json")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var ok struct {
		Valid     bool `json:"valid"`
		Workflows []struct {
			Name, Status, Cluster string
		} `json:"workflows"`
		Objects int `json:"objects"`
	}
	if err := json.Unmarshal([]byte(stdout), &ok); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if !ok.Valid || len(ok.Workflows) != 5 || ok.Objects != 20 {
		t.Errorf("unexpected summary: %+v", ok)
	}

	code, stdout, stderr := runCmd(t, "check", "--source", badRepo(t), "-o", "json")
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if stderr != "" {
		t.Errorf("stderr is not empty with -o json: %s", stderr)
	}
	var bad struct {
		Valid  bool `json:"valid"`
		Errors []struct {
			File, Pointer, Node, Message string
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &bad); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if bad.Valid || len(bad.Errors) != 1 {
		t.Fatalf("want one problem, got %+v", bad)
	}
	e := bad.Errors[0]
	if e.File != "workflows/shop.json" || e.Pointer != "/nodes/4/data/port" || e.Node != "api" || !strings.Contains(e.Message, "1..65535") {
		t.Errorf("problem not located: %+v", e)
	}
}
