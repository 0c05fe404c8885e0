package compiler

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtureRepo = "../fixtures/repo"

// fixtureSource reads the fixture repository.
func fixtureSource(t *testing.T) source.Files {
	t.Helper()
	return readFixtures(t, fixtureRepo)
}

// readFixtures reads a fixture repository.
func readFixtures(t *testing.T, dir string) source.Files {
	t.Helper()
	src, err := source.ReadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func buildFixtures(t *testing.T) *Result {
	t.Helper()
	return buildSource(t, fixtureSource(t))
}

func buildSource(t *testing.T, src source.Files) *Result {
	t.Helper()
	return build(t, newCompiler(t), src)
}

// newCompiler returns a compiler with the default options.
func newCompiler(t testing.TB) *Compiler {
	t.Helper()
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// build builds src with c.
func build(t *testing.T, c *Compiler, src source.Files) *Result {
	t.Helper()
	res, err := c.Build(t.Context(), src)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return res
}

// TestGolden compares the deploy trees of the fixture repositories with
// testdata: fixtures/repo with testdata/golden, the workflows as
// KubeOrch's editor saves them, fixtures/kubeorch, with
// testdata/golden-kubeorch, a cluster with tenancy, testdata/tenancy,
// with testdata/golden-tenancy, and variables given by name only whose
// values are in the encrypted environment Secret, testdata/envsecret,
// with testdata/golden-envsecret, and testdata/tenancy again with a source
// per workflow of the deploy branch deploy (Options.WorkflowSources) with
// testdata/golden-workflow-sources. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ repo, golden, workflowSources string }{
		{fixtureRepo, filepath.Join("testdata", "golden"), ""},
		{"../fixtures/kubeorch", filepath.Join("testdata", "golden-kubeorch"), ""},
		{filepath.Join("testdata", "tenancy"), filepath.Join("testdata", "golden-tenancy"), ""},
		{filepath.Join("testdata", "envsecret"), filepath.Join("testdata", "golden-envsecret"), ""},
		{filepath.Join("testdata", "tenancy"), filepath.Join("testdata", "golden-workflow-sources"), "deploy"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			opts := DefaultOptions()
			opts.WorkflowSources = tc.workflowSources
			c, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			res := build(t, c, readFixtures(t, tc.repo))
			golden := tc.golden
			if *update {
				if err := os.RemoveAll(golden); err != nil {
					t.Fatal(err)
				}
				if err := res.Tree.WriteDir(golden); err != nil {
					t.Fatal(err)
				}
			}
			want, err := ReadDir(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.Paths(), res.Tree.Paths()); diff != "" {
				t.Fatalf("files differ from %s (-want +got):\n%s", golden, diff)
			}
			for _, p := range want.Paths() {
				if diff := cmp.Diff(string(want[p]), string(res.Tree[p])); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", p, diff)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, b := buildFixtures(t), buildFixtures(t)
	if diff := cmp.Diff(a.Tree, b.Tree); diff != "" {
		t.Fatalf("two builds differ:\n%s", diff)
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	for dir, tree := range map[string]Tree{dirA: a.Tree, dirB: b.Tree} {
		if err := tree.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	readA, err := ReadDir(dirA)
	if err != nil {
		t.Fatal(err)
	}
	readB, err := ReadDir(dirB)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readA, readB); diff != "" {
		t.Fatalf("written trees differ:\n%s", diff)
	}
	if diff := cmp.Diff(a.Tree, readA); diff != "" {
		t.Fatalf("written tree differs from the built one:\n%s", diff)
	}
}

// TestKustomizeCLI runs the kustomize command (what `kubectl kustomize`
// embeds) over every overlay and cluster directory of the written tree.
func TestKustomizeCLI(t *testing.T) {
	t.Parallel()
	kustomize := testutil.Tool(t, "kustomize", "make tools installs it into .tools/bin")
	res := buildFixtures(t)
	dir := t.TempDir()
	if err := res.Tree.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	overlays, _ := filepath.Glob(filepath.Join(dir, "workflows", "*", "clusters", "*"))
	clusters, _ := filepath.Glob(filepath.Join(dir, "clusters", "*"))
	if len(overlays) != 3 || len(clusters) != 2 {
		t.Fatalf("found %d overlays and %d cluster dirs, want 3 and 2", len(overlays), len(clusters))
	}
	objects := 0
	for _, d := range append(overlays, clusters...) {
		out, err := exec.CommandContext(t.Context(), kustomize, "build", d).CombinedOutput()
		if err != nil {
			t.Errorf("kustomize build %s: %v\n%s", d, err, out)
			continue
		}
		objects += strings.Count("\n"+string(out), "\nkind: ")
	}
	// 20 objects, 3 namespaces and 3 Flux Kustomizations.
	if objects != res.Objects+3+3 {
		t.Errorf("kustomize printed %d objects, want %d", objects, res.Objects+6)
	}
}

func TestNoSecretObjects(t *testing.T) {
	t.Parallel()
	res := buildFixtures(t)
	for _, p := range res.Tree.Paths() {
		if strings.Contains(string(res.Tree[p]), "\nkind: Secret\n") {
			t.Errorf("%s renders a Secret; values must be supplied outside git", p)
		}
	}
	deploy := string(res.Tree["workflows/shop/base/deployment-api.yaml"])
	for _, want := range []string{"secretName: api-keys", "- key: stripe", "- key: sendgrid"} {
		if !strings.Contains(deploy, want) {
			t.Errorf("deployment-api.yaml lacks %q (key names of the secret node)", want)
		}
	}
}

func TestIncremental(t *testing.T) {
	t.Parallel()
	src := fixtureSource(t)
	c := newCompiler(t)
	first := build(t, c, src)
	if first.Decoded != 5 || first.Rendered != 3 {
		t.Errorf("first build decoded %d and rendered %d, want 5 and 3", first.Decoded, first.Rendered)
	}
	again := build(t, c, src)
	if again.Decoded != 0 || again.Rendered != 0 {
		t.Errorf("unchanged build decoded %d and rendered %d, want 0 and 0", again.Decoded, again.Rendered)
	}
	changed := source.Files{}
	for p, b := range src {
		changed[p] = b
	}
	changed["workflows/database.json"] = []byte(strings.Replace(string(src["workflows/database.json"]), `"replicas": 1`, `"replicas": 2`, 1))
	delete(changed, "workflows/legacy.json")
	next := build(t, c, changed)
	if next.Decoded != 1 || next.Rendered != 1 {
		t.Errorf("build after one change decoded %d and rendered %d, want 1 and 1", next.Decoded, next.Rendered)
	}
	fresh, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	want, err := fresh.Build(t.Context(), changed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Tree, next.Tree); diff != "" {
		t.Errorf("incremental tree differs from a fresh build:\n%s", diff)
	}
	if !strings.Contains(string(next.Tree["workflows/database/base/statefulset-postgres.yaml"]), "replicas: 2") {
		t.Error("the change did not reach the statefulset")
	}
}

// TestWriteDirRemovesStale checks that a workflow that is archived or
// deleted disappears from a directory written before.
func TestWriteDirRemovesStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := buildFixtures(t)
	if err := res.Tree.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "README.md")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	smaller := Tree{}
	for p, b := range res.Tree {
		if !strings.HasPrefix(p, "workflows/batch/") && p != "clusters/staging/batch.yaml" {
			smaller[p] = b
		}
	}
	if err := smaller.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(smaller.Paths(), got.Paths()); diff != "" {
		t.Errorf("files after rewrite (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file outside the managed directories was removed: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".slipway-stage-*"))
	if len(leftovers) > 0 {
		t.Errorf("staging directories left behind: %v", leftovers)
	}
}

func TestBuildInvalidRepository(t *testing.T) {
	t.Parallel()
	src := fixtureSource(t)
	patch := func(file string, patches ...testutil.Patch) []byte {
		return testutil.Marshal(t, testutil.Apply(t, testutil.LoadJSON(t, filepath.Join(fixtureRepo, file)), patches...))
	}
	tests := []struct {
		name  string
		files map[string][]byte
		want  []string
	}{
		{
			name: "errors in several files are all reported",
			files: map[string][]byte{
				"workflows/shop.json":  patch("workflows/shop.json", testutil.Set("/nodes/4/data/port", 0.5)),
				"workflows/batch.json": patch("workflows/batch.json", testutil.Set("/nodes/0/data/backoffLimit", -1)),
			},
			want: []string{
				`workflows/batch.json: /nodes/0/data/backoffLimit: must be 0 or more, not -1 (node "migrate")`,
				`workflows/shop.json: /nodes/4/data/port: must be a whole number, not 0.5 (node "api")`,
			},
		},
		{
			name:  "dependsOn a missing workflow",
			files: map[string][]byte{"workflows/shop.json": patch("workflows/shop.json", testutil.Set("/dependsOn", []any{"payments"}))},
			want:  []string{`workflows/shop.json: /dependsOn/0: names workflow "payments", which does not exist`},
		},
		{
			name:  "dependsOn a draft",
			files: map[string][]byte{"workflows/shop.json": patch("workflows/shop.json", testutil.Set("/dependsOn", []any{"sketch"}))},
			want:  []string{`workflows/shop.json: /dependsOn/0: names workflow "sketch", which is draft, not published`},
		},
		{
			name:  "dependsOn across clusters",
			files: map[string][]byte{"workflows/shop.json": patch("workflows/shop.json", testutil.Set("/dependsOn", []any{"batch"}))},
			want:  []string{`/dependsOn/0: names workflow "batch" on cluster "staging"; dependencies must share the cluster "prod"`},
		},
		{
			name:  "dependency cycle",
			files: map[string][]byte{"workflows/database.json": patch("workflows/database.json", testutil.Set("/dependsOn", []any{"shop"}))},
			want:  []string{`workflows/database.json: /dependsOn: dependency cycle: database → shop → database`},
		},
		{
			name:  "unknown cluster",
			files: map[string][]byte{"workflows/shop.json": patch("workflows/shop.json", testutil.Set("/cluster_id", "mars"))},
			want:  []string{`workflows/shop.json: /cluster_id: names cluster "mars", which has no file clusters/mars.json`},
		},
		{
			name:  "two workflows render one object into a namespace",
			files: map[string][]byte{"workflows/database.json": patch("workflows/database.json", testutil.Set("/namespace", "shop"), testutil.Set("/nodes/2/data/name", "api"))},
			want:  []string{`workflows/shop.json: /nodes/2/data/name: Service "api" in namespace "shop" on cluster "prod" is also rendered by workflow "database" (node`},
		},
		{
			name:  "credentials in a cluster file",
			files: map[string][]byte{"clusters/prod.json": patch("clusters/prod.json", testutil.Set("/credentials", map[string]any{"token": "abc"}))},
			want:  []string{`clusters/prod.json: /credentials: credentials must not be stored in git`},
		},
		{
			name:  "workflow named like an external dependency",
			files: map[string][]byte{"clusters/prod.json": patch("clusters/prod.json", testutil.Set("/flux", map[string]any{"dependsOn": []any{map[string]any{"name": "shop"}}}))},
			want:  []string{`workflows/shop.json: /name: "shop" is the name of a Flux Kustomization that cluster "prod" depends on`},
		},
		{
			name:  "flux dependsOn names a workflow",
			files: map[string][]byte{"workflows/shop.json": patch("workflows/shop.json", testutil.Set("/flux", map[string]any{"dependsOn": []any{map[string]any{"name": "database"}}}))},
			want:  []string{`workflows/shop.json: /flux/dependsOn/0: names workflow "database"; list it in the top-level dependsOn`},
		},
		{
			name:  "bad pod security level",
			files: map[string][]byte{"clusters/prod.json": patch("clusters/prod.json", testutil.Set("/podSecurity", "strict"))},
			want:  []string{`clusters/prod.json: /podSecurity: "strict" must be one of privileged, baseline, restricted`},
		},
		{
			name:  "two default clusters",
			files: map[string][]byte{"clusters/staging.json": patch("clusters/staging.json", testutil.Set("/default", true))},
			want:  []string{`clusters/staging.json: /default: cluster "prod" is already the default`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := source.Files{}
			for p, b := range src {
				s[p] = b
			}
			for p, b := range tt.files {
				s[p] = b
			}
			c := newCompiler(t)
			res, err := c.Build(t.Context(), s)
			if err == nil {
				t.Fatalf("build succeeded with %d files", len(res.Tree))
			}
			if res != nil {
				t.Error("a failed build returned a result")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			if len(workflow.AsErrors(err)) == 0 {
				t.Errorf("error holds no located problems: %v", err)
			}
		})
	}
}
