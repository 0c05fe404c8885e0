package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

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
	bad := filepath.Join("..", "..", "compose", "testdata", "invalid", "misspelled-key.yaml")
	if code, _, stderr := runCmd(t, "import", "compose", bad); code != 1 || !strings.Contains(stderr, bad+`:4:5: services.web.enviroment: unknown key "enviroment"; did you mean "environment"?`) {
		t.Errorf("misspelled key: exit %d, %s", code, stderr)
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

// TestImportComposeFromGitConfined imports repositories that reach for
// this host: its environment is not interpolated, a link out of the clone
// is refused, and a project without a name is named after the
// repository, not the temporary directory it was cloned into (whose
// slipway- prefix is reserved). It sets the environment, so it is not
// parallel.
func TestImportComposeFromGitConfined(t *testing.T) {
	t.Setenv("SLIPWAY_TEST_HOST_VAR", "host-value")
	outside := filepath.Join(t.TempDir(), "host.env")
	if err := os.WriteFile(outside, []byte("TOKEN=host-file-value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "shop")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, repo, "init", "-q", "-b", "main")
	gittest.Commit(t, repo, "Add app", map[string][]byte{
		"compose.yaml": []byte("services:\n  web:\n    image: nginx\n    environment:\n      - FROM_HOST=${SLIPWAY_TEST_HOST_VAR:-unset}\n      - FROM_REPO=${REPO_VAR}\n"),
		".env":         []byte("REPO_VAR=repo-value\n"),
	})
	code, stdout, stderr := runCmd(t, "import", "compose", "--git", "file://"+repo)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"name": "shop"`, `"FROM_HOST": "unset"`, `"FROM_REPO": "repo-value"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("workflow lacks %s:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "host-value") {
		t.Errorf("the host's environment reached the workflow:\n%s", stdout)
	}

	// Relative, as go-git writes an absolute link's target, and climbing
	// to / from wherever the clone is.
	if err := os.Symlink(strings.Repeat("../", 32)+outside, filepath.Join(repo, "app.env")); err != nil {
		t.Fatal(err)
	}
	gittest.Commit(t, repo, "Read the host", map[string][]byte{
		"compose.yaml": []byte("services:\n  web:\n    image: nginx\n    env_file: app.env\n"),
	})
	code, stdout, stderr = runCmd(t, "import", "compose", "--git", "file://"+repo)
	if code != 1 || !strings.Contains(stderr, "services.web.env_file[0]: ") || !strings.Contains(stderr, "app.env: outside the project directory") {
		t.Errorf("env_file linked out of the clone: exit %d, %s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "host-file-value") {
		t.Errorf("the host's file reached the output:\n%s%s", stdout, stderr)
	}
}

// TestImportComposeReservedName fails an import whose workflow name the
// compiler would reject, saying where the name came from.
func TestImportComposeReservedName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("name: slipway-apps\nservices:\n  web:\n    image: nginx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{file}, {file, "--name", "slipway-x"}} {
		code, stdout, stderr := runCmd(t, append([]string{"import", "compose"}, args...)...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "is reserved") || strings.Contains(stderr, "please report") {
			t.Errorf("%v: exit %d, stdout %q, stderr %s", args, code, stdout, stderr)
		}
	}
}

// BenchmarkImportVsKompose runs, as whole processes and alternately,
// `compiler import compose F -o W --deploy-out D` and `kompose convert -f F`
// over every compose fixture, and reports the median time of each and the
// median over the fixtures of their ratio (slipway/kompose), in wall time
// (ms, ratio) and in CPU time, user and system (cpu-ms, cpu-ratio). On a
// busy machine the wall times are mostly waiting for a CPU; the CPU times
// move less with the load.
//
// kompose runs twice per round. As installed, with its directory on PATH,
// the way `kompose convert` is typed: then it runs `kompose version` for
// every object it annotates with its version, and those processes are part
// of its time (kompose-ms, ratio). And alone, with no kompose on PATH, so
// that the lookup fails at once: its conversion and nothing else
// (kompose-alone-ms, ratio-alone), the harder comparison.
//
// kompose comes from `make kompose` (or $KOMPOSE); without it the
// benchmark is skipped. Both are static binaries (CGO_ENABLED=0), as their
// releases are.
func BenchmarkImportVsKompose(b *testing.B) {
	kompose := os.Getenv("KOMPOSE")
	if kompose == "" {
		kompose = filepath.Join("..", "..", ".tools", "bin", "kompose")
	}
	kompose, err := filepath.Abs(kompose)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(kompose); err != nil {
		b.Skipf("SKIPPED: no kompose at %s: run make kompose", kompose)
	}
	installed, alone := komposePaths(filepath.Dir(kompose))
	tmp := b.TempDir()
	bin := filepath.Join(tmp, "compiler")
	// Static, as make build and kompose's releases build their binaries.
	build := exec.CommandContext(b.Context(), "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	fixtures, err := filepath.Glob(filepath.Join("..", "..", "fixtures", "compose", "*", "compose.y*ml"))
	if err != nil || len(fixtures) == 0 {
		b.Fatalf("no compose fixtures: %v", err)
	}
	// times are the wall and the CPU times of one contender's runs.
	type times struct{ wall, cpu []time.Duration }
	type contender struct {
		name string
		// args are the command line; the fixture's compose file follows.
		args []string
		path string // PATH
	}
	contenders := []contender{
		{"slipway", []string{bin, "import", "compose", "-o", "workflow.json", "--deploy-out", "deploy"}, os.Getenv("PATH")},
		{"kompose", []string{kompose, "convert", "-f"}, installed},
		{"kompose-alone", []string{kompose, "convert", "-f"}, alone},
	}
	type run struct {
		file, out string
		times     []times // by contender
	}
	runs := make([]*run, len(fixtures))
	for i, f := range fixtures {
		runs[i] = &run{
			file:  komposeReady(b, f, filepath.Join(tmp, strconv.Itoa(i))),
			out:   filepath.Join(tmp, strconv.Itoa(i)+"-out"),
			times: make([]times, len(contenders)),
		}
		if err := os.MkdirAll(runs[i].out, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	timed := func(r *run, c int) {
		args := append(slices.Clone(contenders[c].args), r.file)
		cmd := exec.CommandContext(b.Context(), args[0], args[1:]...)
		cmd.Dir = r.out
		cmd.Env = append(os.Environ(), "PATH="+contenders[c].path)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s %s: %v\n%s", contenders[c].name, strings.Join(args[1:], " "), err, out)
		}
		t := &r.times[c]
		t.wall = append(t.wall, d)
		t.cpu = append(t.cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	round := 0
	for b.Loop() {
		// Each round starts with the next contender, so that none always
		// runs in the wake of the same other.
		for _, r := range runs {
			for i := range contenders {
				timed(r, (round+i)%len(contenders))
			}
		}
		round++
	}
	for _, m := range []struct {
		unit string
		of   func(times) []time.Duration
	}{
		{"", func(t times) []time.Duration { return t.wall }},
		{"cpu-", func(t times) []time.Duration { return t.cpu }},
	} {
		ms := make([][]float64, len(contenders)) // by contender, by fixture
		for _, r := range runs {
			for c := range contenders {
				ms[c] = append(ms[c], median(m.of(r.times[c]))/1e6)
			}
		}
		for c, k := range contenders {
			b.ReportMetric(medianOf(ms[c]), k.name+"-"+m.unit+"ms")
			if c == 0 {
				continue
			}
			ratios := make([]float64, len(runs))
			for i := range runs {
				ratios[i] = ms[0][i] / ms[c][i]
			}
			b.ReportMetric(medianOf(ratios), m.unit+"ratio"+strings.TrimPrefix(k.name, "kompose"))
		}
	}
}

// komposePaths returns two values for PATH: dir first and then the
// process's own PATH, and the process's own PATH without any directory
// that holds a kompose.
func komposePaths(dir string) (installed, alone string) {
	var rest []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "kompose")); err != nil {
			rest = append(rest, d)
		}
	}
	alone = strings.Join(rest, string(filepath.ListSeparator))
	return dir + string(filepath.ListSeparator) + alone, alone
}

// komposeReady copies the directory of a compose fixture into dir and
// returns its compose file there. kompose reads the files of secrets and
// stops when one is missing, so missing ones get a placeholder; the
// compiler never opens them.
func komposeReady(b *testing.B, file, dir string) string {
	b.Helper()
	if err := os.CopyFS(dir, os.DirFS(filepath.Dir(file))); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var doc struct {
		Secrets map[string]struct{ File string } `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	for _, s := range doc.Secrets {
		p := filepath.Join(dir, s.File)
		if _, err := os.Stat(p); s.File == "" || err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("placeholder\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(file))
}

func median(ds []time.Duration) float64 {
	f := make([]float64, len(ds))
	for i, d := range ds {
		f[i] = float64(d)
	}
	return medianOf(f)
}

func medianOf(f []float64) float64 {
	s := slices.Clone(f)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
