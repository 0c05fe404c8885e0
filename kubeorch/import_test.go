package kubeorch

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/workflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtures = "../fixtures/kubeorch-api"

// parseFiles parses the files names of dir into one set of documents.
func parseFiles(t *testing.T, dir string, names ...string) *Documents {
	t.Helper()
	docs := &Documents{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(p, b)
		if err != nil {
			t.Fatal(err)
		}
		docs.Add(d)
	}
	return docs
}

// TestImportGolden imports every fixture and compares each commit's file,
// the commits' dates and messages, and the report with testdata/golden.
func TestImportGolden(t *testing.T) {
	t.Parallel()
	res, err := Import(parseFiles(t, fixtures, "shop-front.json", "shop-front-versions.json", "workflows.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, f := range res.Files {
		var log strings.Builder
		for i, c := range f.Commits {
			got[fmt.Sprintf("%s/%d.json", f.Name, i+1)] = c.JSON
			fmt.Fprintf(&log, "commit %d (KubeOrch version %d) at %s\n%s\n", i+1, c.Version, c.Time.Format("2006-01-02T15:04:05.000Z07:00"), c.Message)
		}
		got[f.Name+"/commits.txt"] = []byte(log.String())
	}
	var rep bytes.Buffer
	if err := res.Report.WriteJSON(&rep); err != nil {
		t.Fatal(err)
	}
	got["report.json"] = rep.Bytes()
	dir := filepath.Join("testdata", "golden")
	if *update {
		os.RemoveAll(dir)
		for name, b := range got {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		want[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	str := func(m map[string][]byte) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	if d := cmp.Diff(str(want), str(got)); d != "" {
		t.Errorf("import differs from %s (-want +got; rerun with -update if intended):\n%s", dir, d)
	}
}

// TestImportVersions checks the promises about versions directly: one
// commit per version, oldest first, dated created_at, with the version's
// canvas as KubeOrch stored it.
func TestImportVersions(t *testing.T) {
	t.Parallel()
	docs := parseFiles(t, fixtures, "shop-front.json", "shop-front-versions.json")
	res, err := Import(docs, Options{Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Name != "shop-front" || res.Files[0].DisplayName != "Shop Front" {
		t.Fatalf("files: %+v", res.Files)
	}
	commits := res.Files[0].Commits
	if len(commits) != 3 {
		t.Fatalf("%d commits, want 3 (the saved canvas equals version 3)", len(commits))
	}
	byNumber := map[int]*Version{}
	for _, v := range docs.Versions {
		byNumber[v.Number] = v
	}
	for i, c := range commits {
		v := byNumber[i+1]
		t.Run(fmt.Sprint("version ", i+1), func(t *testing.T) {
			if c.Version != v.Number || !c.Time.Equal(v.CreatedAt) {
				t.Errorf("commit %d is version %d at %s, want %d at %s", i+1, c.Version, c.Time, v.Number, v.CreatedAt)
			}
			subject, _, _ := strings.Cut(v.Description, "\n")
			if !strings.HasPrefix(c.Message, subject+"\n") {
				t.Errorf("message %q does not start with %q", c.Message, subject)
			}
			var file struct {
				Name, Namespace, Status string
				ClusterID               string `json:"cluster_id"`
				Nodes                   []json.RawMessage
			}
			if err := json.Unmarshal(c.JSON, &file); err != nil {
				t.Fatal(err)
			}
			if file.Name != "shop-front" || file.Namespace != "default" || file.Status != "published" || file.ClusterID != "prod" {
				t.Errorf("header: %+v", file)
			}
			if d := cmp.Diff(compact(t, v.Nodes), compact(t, file.Nodes)); d != "" {
				t.Errorf("nodes differ from KubeOrch's (-kubeorch +file):\n%s", d)
			}
		})
	}
}

func compact(t *testing.T, raws []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(raws))
	for i, r := range raws {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			t.Fatal(err)
		}
		out[i] = b.String()
	}
	return out
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"not JSON", `{"nodes": [}`, "f.json: invalid JSON"},
		{"trailing data", `{"nodes": []} {}`, "f.json: invalid JSON: unexpected data"},
		{"unknown shape", `{"hello": 1}`, "f.json: is not a KubeOrch workflow or version"},
		{"scalar", `3`, "f.json: must be a JSON object, not a number"},
		{"node not an object", `{"name": "a", "nodes": [{}, 3]}`, "f.json: /nodes/1: must be a JSON object, not a number"},
		{"edges not an array", `{"name": "a", "nodes": [], "edges": {}}`, "f.json: /edges: must be an array, not an object"},
		{"no name", `{"nodes": []}`, "f.json: /name: is required"},
		{"tags", `{"name": "a", "nodes": [], "tags": "web"}`, "f.json: /tags: must be an array of strings, not a string"},
		{"time", `{"name": "a", "nodes": [], "updated_at": "yesterday"}`, `f.json: /updated_at: must be an RFC 3339 time`},
		{"version in a list", `{"versions": [{"version": 1, "nodes": []}, {"version": 0, "nodes": []}]}`, "f.json: /versions/1/version: must be a version number from 1, not 0"},
		{"embedded version", `{"name": "a", "nodes": [], "versions": [{"version": "1", "nodes": []}]}`, "f.json: /versions/0/version: must be a whole number, not a string"},
		{"workflow in a list", `{"workflows": [{"name": "a", "nodes": [], "status": 1}]}`, "f.json: /workflows/0/status: must be a string, not a number"},
		{"key with a slash", `{"workflows": [{"name": "a", "nodes": [], "a/b": 1, "description": false}]}`, "f.json: /workflows/0/description: must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("f.json", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !errors.Is(err, workflow.ErrInvalid) {
				t.Errorf("%v is not workflow.ErrInvalid", err)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	t.Parallel()
	wf := func(id, name string) string {
		return fmt.Sprintf(`{"id": %q, "name": %q, "nodes": []}`, id, name)
	}
	for _, tc := range []struct {
		name string
		docs []string
		want string
	}{
		{"same file name", []string{`[` + wf("1", "Shop Front") + `,` + wf("2", "shop-front") + `]`}, `f0.json: /1/name: "shop-front" becomes workflow "shop-front", as "Shop Front" (f0.json#/0) does`},
		{"version twice", []string{wf("1", "a"), `{"versions": [{"workflow_id": "1", "version": 1, "nodes": []}, {"workflow_id": "1", "version": 1, "nodes": []}]}`}, `f1.json: /versions/1/version: version 1 of "a" is given twice (also f1.json#/versions/0)`},
		{"unknown workflow", []string{wf("1", "a"), `{"workflow_id": "2", "version": 1, "nodes": []}`}, `f1.json: /workflow_id: names workflow "2", which is not among the inputs`},
		{"reserved name", []string{wf("1", "Slipway Prod")}, `f0.json: /name: "Slipway Prod" becomes workflow "slipway-prod", a reserved name (names starting with slipway- are the cluster Kustomizations that apply clusters/<cluster>, which compiler bootstrap renders); rename it in KubeOrch`},
		{"reserved prefix", []string{`[` + wf("1", "Slipway Demo") + `,` + wf("2", "shop") + `]`}, `f0.json: /0/name: "Slipway Demo" becomes workflow "slipway-demo", a reserved name`},
		{"versions alone", []string{`{"workflow_id": "2", "version": 1, "nodes": []}`}, `f0.json: no KubeOrch workflow among the inputs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docs := &Documents{}
			for i, d := range tc.docs {
				p, err := Parse(fmt.Sprintf("f%d.json", i), []byte(d))
				if err != nil {
					t.Fatal(err)
				}
				docs.Add(p)
			}
			_, err := Import(docs, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDNSName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Shop Front":                 "shop-front",
		"shop-front":                 "shop-front",
		"  Batch  Reports (nightly)": "batch-reports-nightly",
		"Ünïcode_ß":                  "n-code",
		"---":                        "workflow",
		"":                           "workflow",
		strings.Repeat("ab-", 30):    strings.TrimRight(strings.Repeat("ab-", 21), "-"),
	} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if got := DNSName(in); got != want {
				t.Errorf("DNSName(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

// TestHistory orders the commits of several workflows by time.
func TestHistory(t *testing.T) {
	t.Parallel()
	res, err := Import(parseFiles(t, fixtures, "shop-front-versions.json", "workflows.json", "shop-front.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.History() {
		got = append(got, fmt.Sprintf("%s@%d %s", s.Name, s.Version, s.Time.Format("2006-01-02")))
	}
	want := []string{
		"old-cache@1 2025-10-01", "batch-reports-nightly@0 2025-11-21",
		"shop-front@1 2025-12-04", "shop-front@2 2025-12-05", "shop-front@3 2025-12-08",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestImportNotesWarnings checks that what `compiler check` warns of in an
// imported canvas (setups that work in KubeOrch and that Slipway renders
// otherwise) is in the report, at the field of the input document, and
// that nodes whose namespace was cleared keep the one KubeOrch deployed
// them to, default.
func TestImportNotesWarnings(t *testing.T) {
	t.Parallel()
	canvas, err := os.ReadFile("../fixtures/kubeorch/workflows/editor-shapes.json")
	if err != nil {
		t.Fatal(err)
	}
	doc := func(namespace any) []byte {
		var wf map[string]any
		if err := json.Unmarshal(canvas, &wf); err != nil {
			t.Fatal(err)
		}
		for _, n := range wf["nodes"].([]any) {
			n.(map[string]any)["data"].(map[string]any)["namespace"] = namespace
		}
		b, err := json.Marshal(map[string]any{"id": "w1", "name": "Editor Shapes", "status": "published", "nodes": wf["nodes"], "edges": wf["edges"]})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name      string
		namespace any
		want      string
	}{
		{"cleared", "", "default"},
		{"null", nil, "default"},
		{"named", "shop", "shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse("api.json", doc(tc.namespace))
			if err != nil {
				t.Fatal(err)
			}
			docs := &Documents{}
			docs.Add(d)
			res, err := Import(docs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			commits := res.Files[0].Commits
			var file struct{ Namespace string }
			if err := json.Unmarshal(commits[len(commits)-1].JSON, &file); err != nil {
				t.Fatal(err)
			}
			if file.Namespace != tc.want {
				t.Errorf("namespace %q, want %q", file.Namespace, tc.want)
			}
			want := Entry{Workflow: "editor-shapes", File: "api.json", Pointer: "/nodes/6/data/serviceName", Status: Approximated,
				Detail: `compiler check warns: names service "cache" (node "node-8"), which is not headless, so the 3 replicas get no DNS names of their own: set headless on it, or pick a name no service has and a headless one is rendered`}
			found := false
			for _, e := range res.Report.Entries {
				found = found || e == want
			}
			if !found {
				t.Errorf("the report lacks %+v; it has %+v", want, res.Report.Entries)
			}
		})
	}
}
