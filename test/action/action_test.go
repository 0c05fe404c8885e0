// Package action_test runs the repository's GitHub Action the way GitHub's
// runner does, with nektos/act on the host: a pull_request event from
// GitHub's example payloads, a workflows repository with a base and a head
// commit, and the action served from this checkout, offline.
package action_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// root is the repository root: the action's own checkout.
const root = "../.."

// workflowFile runs the action in three jobs: on the pull request's head
// (again with fail-on: changes and with fail-on: immutable, which must
// fail); in a shallow clone, on a head with an invalid workflow (first
// with fail-on: never, which must pass); and with a base that is a git
// option, which would run a command (RESULTS stands for the directory of
// results), and must be refused.
const workflowFile = `name: review
on: pull_request
jobs:
  valid:
    runs-on: ubuntu-latest
    steps:
      - run: git clone --quiet "$SLIPWAY_REPO" . && git checkout --quiet "${{ github.event.pull_request.head.sha }}"
      - id: slipway
        uses: slipway-gitops/slipway@v1
        with:
          source: deploy
      - id: strict
        continue-on-error: true
        uses: slipway-gitops/slipway@v1
        with:
          source: deploy
          fail-on: changes
      - id: immutable
        continue-on-error: true
        uses: slipway-gitops/slipway@v1
        with:
          source: deploy
          fail-on: invalid, immutable
      - if: always()
        run: |
          echo '${{ toJSON(steps.slipway.outputs) }}' > "$SLIPWAY_RESULTS/valid.json"
          echo '${{ steps.strict.outcome }}' > "$SLIPWAY_RESULTS/valid-strict-outcome"
          echo '${{ steps.immutable.outcome }}' > "$SLIPWAY_RESULTS/valid-immutable-outcome"
          cp "${{ steps.slipway.outputs.diff-file }}" "$SLIPWAY_RESULTS/valid-review.txt"
  invalid:
    runs-on: ubuntu-latest
    steps:
      # A shallow clone: the action must fetch the base commit.
      - run: git clone --quiet --depth 1 --branch broken "file://$SLIPWAY_REPO" .
      - id: lenient
        uses: slipway-gitops/slipway@v1
        with:
          source: deploy
          head: broken
          fail-on: never
      - id: slipway
        uses: slipway-gitops/slipway@v1
        with:
          source: deploy
          head: broken
      - if: always()
        run: |
          echo '${{ toJSON(steps.slipway.outputs) }}' > "$SLIPWAY_RESULTS/invalid.json"
          echo '${{ steps.lenient.outcome }}' > "$SLIPWAY_RESULTS/invalid-lenient-outcome"
  hostile:
    runs-on: ubuntu-latest
    steps:
      - run: git clone --quiet --depth 1 "file://$SLIPWAY_REPO" .
      - id: slipway
        continue-on-error: true
        uses: slipway-gitops/slipway@v1
        with:
          source: deploy
          base: "--upload-pack=touch RESULTS/pwned;git-upload-pack"
      - if: always()
        run: echo '${{ steps.slipway.outcome }}' > "$SLIPWAY_RESULTS/hostile-outcome"
`

// immutableMessage is what the review says of the head's change to the
// uploads claim.
const immutableMessage = "persistentvolumeclaim uploads: storageClassName changed — immutable; Flux will stop applying workflow shop until this is reverted"

// setupGo stands in for actions/setup-go, which cannot be fetched
// offline: the action must skip it when Go is on PATH, and it fails the
// job if it runs.
const setupGo = `name: setup-go, offline
description: fails the job; the action must skip setup-go when Go is on PATH
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "::error title=setup-go::actions/setup-go ran although Go is on PATH"; exit 1
`

// logLine is one line of act's --json log.
type logLine struct {
	Job       string            `json:"jobID"`
	Msg       string            `json:"msg"`
	Command   string            `json:"command"`
	KVPairs   map[string]string `json:"kvPairs"`
	Arg       string            `json:"arg"`
	Content   string            `json:"content"`
	JobResult string            `json:"jobResult"`
}

// job is what act reported of one job.
type job struct {
	result      string
	summary     string
	annotations []logLine
	warnings    []logLine
}

func TestActionOnPullRequest(t *testing.T) {
	act := actBinary(t)
	event := pullRequestEvent(t)
	work := t.TempDir()
	results := filepath.Join(work, "results")

	repo := gittest.Init(t)
	base := gittest.Commit(t, repo, "Add the workflows", gittest.CopyDir(t, filepath.Join(root, "fixtures/repo"), repo, "deploy"))
	shop := testutil.LoadJSON(t, filepath.Join(root, "fixtures/repo/workflows/shop.json"))
	headShop := testutil.Marshal(t, testutil.Apply(t, shop, testutil.Set("/nodes/3/data/replicas", 5), testutil.Set("/nodes/8/data/storageClassName", "slow")))
	head := gittest.Commit(t, repo, "Scale web to 5, move uploads to slow disks", map[string][]byte{"deploy/workflows/shop.json": headShop})
	slowLine := strconv.Itoa(1 + bytes.Count(headShop[:bytes.Index(headShop, []byte(`"slow"`))], []byte("\n")))
	gittest.Git(t, repo, "checkout", "--quiet", "-b", "broken")
	broken, err := os.ReadFile(filepath.Join(root, "fixtures/repo/workflows/shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	broken = bytes.Replace(broken, []byte("\"port\": 8080,\n        \"ports\""), []byte("\"port\": 70000,\n        \"ports\""), 1)
	gittest.Commit(t, repo, "Break the api's port", map[string][]byte{"deploy/workflows/shop.json": broken})
	gittest.Git(t, repo, "checkout", "--quiet", "main")

	event["pull_request"].(map[string]any)["base"].(map[string]any)["sha"] = base
	event["pull_request"].(map[string]any)["head"].(map[string]any)["sha"] = head
	eventJSON, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"workflows/review.yml": strings.ReplaceAll(workflowFile, "RESULTS", results),
		"setup-go/action.yml":  setupGo,
		"event.json":           string(eventJSON),
	} {
		writeFile(t, filepath.Join(work, name), content)
	}
	if err := os.MkdirAll(results, 0o755); err != nil {
		t.Fatal(err)
	}
	action := actionCheckout(t, filepath.Join(work, "action"))

	jobs, log := runAct(t, act, repo, work,
		"pull_request", "--json",
		"-W", filepath.Join(work, "workflows/review.yml"),
		"-e", filepath.Join(work, "event.json"),
		"-P", "ubuntu-latest=-self-hosted",
		"--local-repository", "slipway-gitops/slipway@v1="+action,
		"--local-repository", "actions/setup-go@v5="+filepath.Join(work, "setup-go"),
		"--action-cache-path", filepath.Join(work, "cache"),
		"--no-cache-server", "--concurrent-jobs", "1",
		"--env", "SLIPWAY_REPO="+repo,
		"--env", "SLIPWAY_RESULTS="+results,
	)
	defer func() {
		if t.Failed() {
			t.Logf("act's log:\n%s", log)
		}
	}()

	for _, name := range []string{"valid", "invalid", "hostile"} {
		if jobs[name] == nil {
			t.Fatalf("act did not run the job %q:\n%s", name, log)
		}
	}
	t.Run("valid head", func(t *testing.T) {
		j := jobs["valid"]
		if j.result != "success" || len(j.annotations) != 0 {
			t.Errorf("job result %q with annotations %+v; want success and none", j.result, j.annotations)
		}
		for _, want := range []string{
			"### Slipway: 1 workflow changed: 0 objects added, 0 removed, 2 modified",
			"#### What merging does\n\n- " + immutableMessage + " (`immutable`)\n",
			"| shop | modified |",
			"- modified node web (deployment \"web\"): /data/replicas: 2 → 5",
			"**`prod Deployment shop/web`** (modified)\n\n- `spec.replicas: 2 → 5`\n",
			"-  replicas: 2\n+  replicas: 5\n",
		} {
			if !strings.Contains(j.summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, j.summary)
			}
		}
		outputs := readOutputs(t, filepath.Join(results, "valid.json"))
		for name, want := range map[string]string{"valid": "true", "changed-workflows": "shop", "objects-added": "0", "objects-changed": "2", "objects-removed": "0"} {
			if outputs[name] != want {
				t.Errorf("output %s = %q, want %q", name, outputs[name], want)
			}
		}
		var consequences []struct{ Kind, Message, Pointer string }
		if err := json.Unmarshal([]byte(outputs["consequences"]), &consequences); err != nil || len(consequences) != 1 ||
			consequences[0].Kind != "immutable" || consequences[0].Message != immutableMessage || consequences[0].Pointer != "/nodes/8/data/storageClassName" {
			t.Errorf("output consequences = %s (%v), want the storage class change", outputs["consequences"], err)
		}
		// One warning from each of the three steps, at the changed field.
		if len(j.warnings) != 3 {
			t.Errorf("got %d warnings, want 3: %+v", len(j.warnings), j.warnings)
		}
		for _, w := range j.warnings {
			if w.KVPairs["file"] != "deploy/workflows/shop.json" || w.KVPairs["line"] != slowLine || w.Arg != immutableMessage {
				t.Errorf("warning %+v, want %q at deploy/workflows/shop.json:%s", w, immutableMessage, slowLine)
			}
		}
		for name, want := range map[string]string{"valid-strict-outcome": "failure", "valid-immutable-outcome": "failure"} {
			if got := readResult(t, filepath.Join(results, name)); got != want {
				t.Errorf("%s is %q, want %s", name, got, want)
			}
		}
		review, err := os.ReadFile(filepath.Join(results, "valid-review.txt"))
		if err != nil || !strings.Contains(string(review), "modified prod Deployment shop/web\n  spec.replicas: 2 → 5\n") {
			t.Errorf("diff-file %s: %v\n%s", outputs["diff-file"], err, review)
		}
	})

	t.Run("invalid head", func(t *testing.T) {
		j := jobs["invalid"]
		if j.result != "failure" {
			t.Errorf("job result %q, want failure", j.result)
		}
		// One annotation from each of the two steps.
		if len(j.annotations) != 2 {
			t.Fatalf("got %d annotations, want 2: %+v", len(j.annotations), j.annotations)
		}
		want := map[string]string{"file": "deploy/workflows/shop.json", "line": "77", "col": "17", "title": `slipway: workflows/shop.json /nodes/4/data/port (node "api")`}
		for _, a := range j.annotations {
			for k, v := range want {
				if a.KVPairs[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, a.KVPairs[k], v)
				}
			}
			if a.Arg != "must be 1..65535, not 70000" {
				t.Errorf("annotation message %q", a.Arg)
			}
		}
		if got := readResult(t, filepath.Join(results, "invalid-lenient-outcome")); got != "success" {
			t.Errorf("with fail-on: never, the step's outcome is %q, want success", got)
		}
		if !strings.Contains(j.summary, "does not validate: 1 problems") {
			t.Errorf("summary does not show the problem:\n%s", j.summary)
		}
		if outputs := readOutputs(t, filepath.Join(results, "invalid.json")); outputs["valid"] != "false" {
			t.Errorf("output valid = %q, want false", outputs["valid"])
		}
	})

	t.Run("hostile base", func(t *testing.T) {
		j := jobs["hostile"]
		if _, err := os.Stat(filepath.Join(results, "pwned")); err == nil {
			t.Error("a base of --upload-pack=... ran its command")
		}
		if got := readResult(t, filepath.Join(results, "hostile-outcome")); got != "failure" {
			t.Errorf("the step's outcome is %q, want failure", got)
		}
		if len(j.annotations) != 1 || !strings.HasPrefix(j.annotations[0].Arg, `base must be a commit id or a ref name, not "--upload-pack=`) {
			t.Errorf("annotations %+v, want one that refuses the base", j.annotations)
		}
	})
}

// runAct runs act in dir with a private home, offline: the Go module
// cache and build cache of this machine, no module proxy. It returns what
// act reported of each job, and its log.
func runAct(t *testing.T, act, dir, work string, args ...string) (map[string]*job, string) {
	t.Helper()
	goEnv, err := exec.Command("go", "env", "GOMODCACHE", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	caches := strings.Fields(string(goEnv))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, act, args...)
	cmd.Dir = dir
	home := filepath.Join(work, "home")
	cmd.Env = append(os.Environ(),
		"HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"GOMODCACHE="+caches[0], "GOCACHE="+caches[1], "GOPROXY=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	// act and the steps it starts stop together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("act did not finish in time: %v\n%s", ctx.Err(), out)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("act: %v", err)
	}
	jobs := map[string]*job{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Job == "" {
			continue
		}
		j := jobs[l.Job]
		if j == nil {
			j = &job{}
			jobs[l.Job] = j
		}
		switch {
		case l.JobResult != "":
			j.result = l.JobResult
		case l.Command == "summary":
			// act reports a composite action's summary for its inner
			// step and again for the action's step.
			j.summary = l.Content
		case l.Command == "error":
			j.annotations = append(j.annotations, l)
		case l.Command == "warning":
			j.warnings = append(j.warnings, l)
		}
	}
	return jobs, string(out)
}

func readResult(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func readOutputs(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

// actBinary finds act on PATH or where make act puts it; without it the
// test is skipped loudly, and fails in CI.
func actBinary(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join(root, ".tools/bin/act")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return testutil.Tool(t, "act", "make act builds it into .tools/bin")
}

// pullRequestEvent returns GitHub's example "opened" pull_request payload.
func pullRequestEvent(t *testing.T) map[string]any {
	t.Helper()
	for _, raw := range githubtest.Examples(t, root, "pull_request") {
		var ex map[string]any
		if err := json.Unmarshal(raw, &ex); err != nil {
			t.Fatal(err)
		}
		if ex["action"] == "opened" {
			return ex
		}
	}
	t.Fatal("no opened pull_request example")
	return nil
}

// actionCheckout copies the files of this checkout that git would see
// (tracked or not ignored, as they are in the working tree) to dir, as a
// checkout of the action: act copies a local action whole, and a working
// tree may hold large ignored state (.kube-stack, .demo, bin).
func actionCheckout(t *testing.T, dir string) string {
	t.Helper()
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	list, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(string(list), "\x00") {
		if name == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if errors.Is(err, syscall.EISDIR) {
			continue // an untracked link to a directory, such as .tools
		}
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), string(b))
	}
	return dir
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
