package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

const kubeorchAPI = "../../fixtures/kubeorch-api"

// kubeorchVersion is the part of a KubeOrch version document the tests
// compare.
type kubeorchVersion struct {
	Version      int
	Nodes, Edges []any
	Description  string
	CreatedAt    time.Time `json:"created_at"`
}

// kubeorchVersions reads the fixture's versions, by number.
func kubeorchVersions(t *testing.T) map[int]kubeorchVersion {
	t.Helper()
	var page struct{ Versions []kubeorchVersion }
	b, err := os.ReadFile(filepath.Join(kubeorchAPI, "shop-front-versions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	out := map[int]kubeorchVersion{}
	for _, v := range page.Versions {
		out[v.Version] = v
	}
	return out
}

// TestImportKubeOrchVersions imports a workflow with three versions into
// a new repository: three commits whose dates, messages and files agree
// with KubeOrch's documents as versions and show read them.
func TestImportKubeOrchVersions(t *testing.T) {
	t.Parallel()
	repo := gittest.Init(t)
	code, _, stderr := runCmd(t, "import", "kubeorch", filepath.Join(kubeorchAPI, "shop-front.json"),
		"--versions", filepath.Join(kubeorchAPI, "shop-front-versions.json"), "--into", repo)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "committed 3 versions to main") {
		t.Errorf("summary: %s", stderr)
	}
	code, stdout, stderr := runCmd(t, "versions", "--source", repo, "shop-front", "-o", "json")
	if code != 0 {
		t.Fatalf("versions: exit %d: %s", code, stderr)
	}
	var vs []struct {
		Version int
		Time    time.Time
		Message string
	}
	if err := json.Unmarshal([]byte(stdout), &vs); err != nil {
		t.Fatal(err)
	}
	want := kubeorchVersions(t)
	if len(vs) != len(want) {
		t.Fatalf("%d versions, KubeOrch has %d", len(vs), len(want))
	}
	for _, v := range vs {
		k := want[v.Version]
		if !v.Time.Equal(k.CreatedAt.Truncate(time.Second)) {
			t.Errorf("version %d at %s, KubeOrch made it at %s", v.Version, v.Time, k.CreatedAt)
		}
		subject, _, _ := strings.Cut(k.Description, "\n")
		if !strings.HasPrefix(v.Message, subject) {
			t.Errorf("version %d: message %q, KubeOrch's description %q", v.Version, v.Message, k.Description)
		}
		code, stdout, stderr := runCmd(t, "show", "--source", repo, "shop-front", strconv.Itoa(v.Version))
		if code != 0 {
			t.Fatalf("show %d: exit %d: %s", v.Version, code, stderr)
		}
		var file struct {
			Name         string
			Nodes, Edges []any
		}
		if err := json.Unmarshal([]byte(stdout), &file); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(k.Nodes, file.Nodes); d != "" {
			t.Errorf("show %d: nodes differ from KubeOrch's version (-kubeorch +show):\n%s", v.Version, d)
		}
		if d := cmp.Diff(k.Edges, file.Edges); d != "" {
			t.Errorf("show %d: edges differ from KubeOrch's version (-kubeorch +show):\n%s", v.Version, d)
		}
	}
	// The working tree follows the branch.
	if _, err := os.Stat(filepath.Join(repo, "workflows", "shop-front.json")); err != nil {
		t.Errorf("working tree: %v", err)
	}
	if st := gittest.Git(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("working tree is not clean: %s", st)
	}
	gittest.Fsck(t, repo)

	t.Run("checks clean", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "check", "--source", repo)
		if code != 0 {
			t.Errorf("check: exit %d:\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("nothing half-written", func(t *testing.T) {
		head := gittest.Git(t, repo, "rev-parse", "main")
		// Again: the workflow exists, so nothing is committed.
		code, _, stderr := runCmd(t, "import", "kubeorch", filepath.Join(kubeorchAPI, "shop-front.json"), "--into", repo)
		if code != 1 || !strings.Contains(stderr, "workflows/shop-front.json: file exists") {
			t.Errorf("second import: exit %d: %s", code, stderr)
		}
		// A broken versions file: nothing is committed either.
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"versions": [{"version": 1, "nodes": [], "created_at": "soon"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr = runCmd(t, "import", "kubeorch", filepath.Join(kubeorchAPI, "workflows.json"), "--versions", bad, "--into", repo)
		if code != 1 || !strings.Contains(stderr, bad+": /versions/0/created_at: must be an RFC 3339 time") {
			t.Errorf("broken versions: exit %d: %s", code, stderr)
		}
		if got := gittest.Git(t, repo, "rev-parse", "main"); got != head {
			t.Errorf("main moved from %s to %s", head, got)
		}
	})
}

// TestImportKubeOrchOut writes one workflow file, and a list of workflows
// into a repository, one commit per workflow version in time order.
func TestImportKubeOrchOut(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "shop-front.json")
	report := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := runCmd(t, "import", "kubeorch", filepath.Join(kubeorchAPI, "shop-front.json"), "-o", out, "--report", report, "--cluster", "prod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.Contains(b, []byte(`"cluster_id": "prod"`)) || !bytes.Contains(b, []byte(`"name": "shop-front"`)) {
		t.Errorf("workflow file: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(report); err != nil || !bytes.Contains(b, []byte(`"pointer": "/owner_id"`)) {
		t.Errorf("report: %v\n%s", err, b)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"x.json"}, "give one of --into REPO and -o FILE"},
		{"both targets", []string{"x.json", "-o", "a", "--into", "b"}, "give one of --into REPO and -o FILE"},
		{"versions to a file", []string{"x.json", "-o", "a", "--versions", "v.json"}, "--versions needs --into"},
		{"no files", []string{"-o", "a"}, "give KubeOrch workflow documents"},
		{"several to one file", []string{filepath.Join(kubeorchAPI, "workflows.json"), "-o", "-"}, "-o writes one workflow; the inputs hold 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"import", "kubeorch"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d: %s", code, stderr)
			}
		})
	}

	repo := gittest.Init(t)
	code, _, stderr = runCmd(t, "import", "kubeorch", filepath.Join(kubeorchAPI, "workflows.json"), "--into", repo)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	log := gittest.Git(t, repo, "log", "--reverse", "--format=%aI %s")
	want := "2025-10-01T08:30:00+00:00 Redis for sessions\n2025-11-21T10:00:00+00:00 Import Batch  Reports (nightly) from KubeOrch"
	if log != want {
		t.Errorf("history:\n%s\nwant:\n%s", log, want)
	}
	if code, stdout, stderr := runCmd(t, "check", "--source", repo); code != 0 {
		t.Errorf("check: exit %d:\n%s%s", code, stdout, stderr)
	}
}

// TestImportKubeOrchReservedName fails the import of a workflow whose
// name the compiler rejects, at the name in the input, and writes and
// commits nothing.
func TestImportKubeOrchReservedName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "apps.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(in, []byte(`{"id": "1", "name": "Apps", "nodes": [], "edges": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "import", "kubeorch", in, "-o", out)
	if code != 1 || !strings.Contains(stderr, in+`: /name: "Apps" becomes workflow "apps", a reserved name`) {
		t.Errorf("-o: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s written", out)
	}
	repo := gittest.Init(t)
	if code, _, stderr := runCmd(t, "import", "kubeorch", in, "--into", repo); code != 1 || !strings.Contains(stderr, "reserved name") {
		t.Errorf("--into: exit %d: %s", code, stderr)
	}
	if _, err := gittest.GitE(t.Context(), repo, "rev-parse", "HEAD"); err == nil {
		t.Error("the repository has a commit")
	}
}
