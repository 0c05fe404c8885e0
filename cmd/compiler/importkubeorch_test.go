package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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
		{"authors of a file", []string{"x.json", "-o", "a", "--authors", "authors.txt"}, "--authors needs --into"},
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
	in, out := filepath.Join(dir, "slipway-prod.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(in, []byte(`{"id": "1", "name": "Slipway Prod", "nodes": [], "edges": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "import", "kubeorch", in, "-o", out)
	if code != 1 || !strings.Contains(stderr, in+`: /name: "Slipway Prod" becomes workflow "slipway-prod", a reserved name`) {
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

const kubeorchHistory = "../../kubeorch/testdata/history"

// TestImportKubeOrchHistory imports a history whose runs repeat the
// canvas, with a restore and three authors, and checks that versions,
// show and compare agree with KubeOrch's documents: numbers, authors,
// dates, the restore's provenance and the cluster are kept, and a restore
// after the import names KubeOrch's number.
func TestImportKubeOrchHistory(t *testing.T) {
	t.Parallel()
	repo := gittest.Init(t)
	code, _, stderr := runCmd(t, "import", "kubeorch", filepath.Join(kubeorchHistory, "checkout-api.json"),
		"--versions", filepath.Join(kubeorchHistory, "checkout-api-versions.json"),
		"--authors", filepath.Join(kubeorchHistory, "authors.txt"), "--into", repo)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"made the cluster files clusters/prod-eu.json\n", "committed 6 versions to main"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	var page struct {
		Versions []struct {
			kubeorchVersion
			CreatedBy    string `json:"created_by"`
			RestoredFrom int    `json:"restored_from"`
		}
	}
	b, err := os.ReadFile(filepath.Join(kubeorchHistory, "checkout-api-versions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	authors := map[string]string{
		"6760c0ffe4b0a3f1d2c3c001": "Ada Lovelace <ada@example.com>",
		"6760c0ffe4b0a3f1d2c3c002": "Grace Hopper <grace@example.com>",
		"6760c0ffe4b0a3f1d2c3c003": "6760c0ffe4b0a3f1d2c3c003 <6760c0ffe4b0a3f1d2c3c003@kubeorch.invalid>",
	}
	type version struct {
		Version int
		Author  string
		Time    time.Time
		Restore int
	}
	var want []version
	for _, v := range slices.Backward(page.Versions) { // the API lists the newest first
		want = append(want, version{v.Version, authors[v.CreatedBy], v.CreatedAt.Truncate(time.Second), v.RestoredFrom})
	}
	listed := func() []struct {
		Version       int
		Commit        string
		Author, Email string
		Time          time.Time
		Message       string
	} {
		t.Helper()
		code, stdout, stderr := runCmd(t, "versions", "--source", repo, "checkout-api", "-o", "json")
		if code != 0 {
			t.Fatalf("versions: exit %d: %s", code, stderr)
		}
		var vs []struct {
			Version       int
			Commit        string
			Author, Email string
			Time          time.Time
			Message       string
		}
		if err := json.Unmarshal([]byte(stdout), &vs); err != nil {
			t.Fatal(err)
		}
		return vs
	}
	var got []version
	for _, v := range listed() {
		restore := 0
		if _, n, ok := strings.Cut(v.Message, "\nKubeOrch-Restored-From: "); ok {
			restore, _ = strconv.Atoi(strings.Fields(n)[0])
		}
		got = append(got, version{v.Version, v.Author + " <" + v.Email + ">", v.Time, restore})
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("versions differ from KubeOrch's (-kubeorch +versions):\n%s", d)
	}
	if c := gittest.Git(t, repo, "log", "--format=%cn <%ce>"); strings.Trim(strings.ReplaceAll(c, "Slipway <slipway@localhost>", ""), "\n") != "" {
		t.Errorf("committers other than the importer:\n%s", c)
	}

	show := func(n int) (nodes, edges []any) {
		t.Helper()
		code, stdout, stderr := runCmd(t, "show", "--source", repo, "checkout-api", strconv.Itoa(n))
		if code != 0 {
			t.Fatalf("show %d: exit %d: %s", n, code, stderr)
		}
		var file struct {
			ClusterID    string `json:"cluster_id"`
			Nodes, Edges []any
		}
		if err := json.Unmarshal([]byte(stdout), &file); err != nil {
			t.Fatal(err)
		}
		if file.ClusterID != "prod-eu" {
			t.Errorf("show %d: cluster %q, want prod-eu", n, file.ClusterID)
		}
		return file.Nodes, file.Edges
	}
	for _, v := range page.Versions {
		nodes, edges := show(v.Version)
		if d := cmp.Diff(v.Nodes, nodes); d != "" {
			t.Errorf("show %d: nodes differ from KubeOrch's version (-kubeorch +show):\n%s", v.Version, d)
		}
		if d := cmp.Diff(v.Edges, edges); d != "" {
			t.Errorf("show %d: edges differ from KubeOrch's version (-kubeorch +show):\n%s", v.Version, d)
		}
	}
	for _, tc := range []struct {
		v1, v2 string
		want   string
	}{
		{"2", "3", "versions 2 and 3 of checkout-api have the same graph"}, // a run
		{"2", "5", "versions 2 and 5 of checkout-api have the same graph"}, // the restore of 2
		{"4", "5", "ghcr.io/acme/checkout:1.1"},
	} {
		code, stdout, stderr := runCmd(t, "compare", "--source", repo, "checkout-api", tc.v1, tc.v2)
		if code != 0 || !strings.Contains(stdout, tc.want) {
			t.Errorf("compare %s %s: exit %d, %q, want %q: %s", tc.v1, tc.v2, code, stdout, tc.want, stderr)
		}
	}

	// A restore after the import speaks KubeOrch's numbers.
	if code, stdout, stderr := runCmd(t, "restore", "--source", repo, "checkout-api", "4"); code != 0 || !strings.HasPrefix(stdout, "restored checkout-api to version 4 ") {
		t.Fatalf("restore: exit %d: %s%s", code, stdout, stderr)
	}
	vs := listed()
	if last := vs[len(vs)-1]; last.Version != 7 || last.Message != "Restore checkout-api to version 4" {
		t.Errorf("the restore is version %d: %q", last.Version, last.Message)
	}
	nodes, _ := show(7)
	if d := cmp.Diff(page.Versions[2].Nodes, nodes); page.Versions[2].Version != 4 || d != "" {
		t.Errorf("version 7 is not KubeOrch's version 4 (-kubeorch +show):\n%s", d)
	}
	if code, stdout, stderr := runCmd(t, "check", "--source", repo); code != 0 {
		t.Errorf("check: exit %d:\n%s%s", code, stdout, stderr)
	}
	gittest.Fsck(t, repo)
}

// TestImportKubeOrchClusters makes the cluster files a repository lacks:
// with the first, the default cluster too, for the workflows that named
// none before; later, only the missing ones.
func TestImportKubeOrchClusters(t *testing.T) {
	t.Parallel()
	repo := gittest.Init(t)
	importInto := func(files ...string) string {
		t.Helper()
		code, _, stderr := runCmd(t, append(append([]string{"import", "kubeorch"}, files...), "--into", repo)...)
		if code != 0 {
			t.Fatalf("import %v: exit %d: %s", files, code, stderr)
		}
		if code, stdout, stderr := runCmd(t, "check", "--source", repo); code != 0 {
			t.Fatalf("check after importing %v: exit %d:\n%s%s", files, code, stdout, stderr)
		}
		return stderr
	}
	if stderr := importInto(filepath.Join(kubeorchAPI, "workflows.json")); strings.Contains(stderr, "cluster files") {
		t.Errorf("workflows without clusters made cluster files: %s", stderr)
	}
	if stderr := importInto(filepath.Join(kubeorchHistory, "checkout-api.json")); !strings.Contains(stderr, "made the cluster files clusters/default.json, clusters/prod-eu.json\n") {
		t.Errorf("stderr: %s", stderr)
	}
	var def struct {
		Name    string
		Default bool
	}
	if err := json.Unmarshal([]byte(gittest.Git(t, repo, "show", "main:clusters/default.json")), &def); err != nil || def.Name != "default" || !def.Default {
		t.Errorf("clusters/default.json: %+v, %v", def, err)
	}
	// Shop Front ran on KubeOrch's cluster "default", a file by now.
	if stderr := importInto(filepath.Join(kubeorchAPI, "shop-front.json")); strings.Contains(stderr, "cluster files") {
		t.Errorf("stderr: %s", stderr)
	}
	if got := gittest.Git(t, repo, "log", "--format=%s", "--", "clusters"); got != "Add the clusters KubeOrch ran the imported workflows on" {
		t.Errorf("commits of clusters/:\n%s", got)
	}
}

// TestImportKubeOrchBadAuthors fails on an authors file that is not one,
// at its line, and commits nothing.
func TestImportKubeOrchBadAuthors(t *testing.T) {
	t.Parallel()
	repo := gittest.Init(t)
	authors := filepath.Join(t.TempDir(), "authors.txt")
	if err := os.WriteFile(authors, []byte("# users\nu1 = Ada\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "import", "kubeorch", filepath.Join(kubeorchHistory, "checkout-api.json"), "--authors", authors, "--into", repo)
	if code != 1 || !strings.Contains(stderr, authors+":2: u1: want the author as `Name <email>`") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if _, err := gittest.GitE(t.Context(), repo, "rev-parse", "HEAD"); err == nil {
		t.Error("the repository has a commit")
	}
}
