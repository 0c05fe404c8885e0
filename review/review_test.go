package review

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtureRepo = "../fixtures/repo"

func fixtureSource(t *testing.T) source.Files {
	t.Helper()
	src, err := source.ReadDir(os.DirFS(fixtureRepo))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func patched(t *testing.T, src source.Files, file string, patches ...testutil.Patch) {
	t.Helper()
	src[file] = testutil.Marshal(t, testutil.Apply(t, testutil.LoadJSON(t, filepath.Join(fixtureRepo, file)), patches...))
}

func newCompiler(t *testing.T) *compiler.Compiler {
	t.Helper()
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoldenFixtureChange reviews a typical pull request against the
// fixture repository: a scaled deployment, a new node and edge, a moved
// node, an archived workflow, and a description-only change.
func TestGoldenFixtureChange(t *testing.T) {
	t.Parallel()
	base, head := fixtureSource(t), fixtureSource(t)
	patched(t, head, "workflows/shop.json",
		testutil.Set("/nodes/3/data/replicas", 4),
		testutil.Set("/nodes/4/position", map[string]any{"x": 10, "y": 20}),
		testutil.Set("/nodes/-", map[string]any{"id": "cache", "type": "deployment", "position": map[string]any{"x": 0, "y": 0},
			"data": map[string]any{"name": "cache", "image": "redis:7.2", "port": 6379}}),
		testutil.Set("/edges/-", map[string]any{"id": "e11", "source": "np-api", "target": "cache"}),
	)
	patched(t, head, "workflows/batch.json", testutil.Set("/status", "archived"))
	patched(t, head, "workflows/sketch.json", testutil.Set("/description", "only words"))
	r, err := Compare(t.Context(), newCompiler(t), "base", "head", base, head)
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.Workflows != 2 {
		t.Errorf("summary counts %d workflows, want 2 (shop and batch)", r.Summary.Workflows)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"fixture-change.md", func(b *bytes.Buffer) error { return r.WriteMarkdown(b, MarkdownBudget) }},
		{"fixture-change.txt", func(b *bytes.Buffer) error { return r.WriteText(b) }},
		{"fixture-change.json", func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", f.name)
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), b.String()); diff != "" {
			t.Errorf("%s differs (-want +got):\n%s", f.name, diff)
		}
	}
}

func TestProblemsOfHead(t *testing.T) {
	t.Parallel()
	base, head := fixtureSource(t), fixtureSource(t)
	patched(t, head, "workflows/shop.json", testutil.Set("/nodes/4/data/port", 70000))
	r, err := Compare(t.Context(), newCompiler(t), "base", "head", base, head)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, MarkdownBudget); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "head does not validate: 1 problems") || !strings.Contains(b.String(), `/nodes/4/data/port: must be 1..65535`) {
		t.Errorf("markdown does not show the problem:\n%s", b.String())
	}
}

// TestMarkdownBudget changes many workflows: the comment must stay within
// the budget, end at an object boundary and say what it left out.
func TestMarkdownBudget(t *testing.T) {
	t.Parallel()
	base, head := source.Files{}, source.Files{}
	// 30 objects of about 6 KB each: well over the budget, with few
	// overlays to build.
	big := strings.Repeat("x", 6000)
	for i := range 30 {
		wf := func(v string) []byte {
			return fmt.Appendf(nil, `{"name": "w%02d", "status": "published", "nodes": [
				{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": %q, "b": %q}}}], "edges": []}`, i, v, big)
		}
		base[fmt.Sprintf("workflows/w%02d.json", i)] = wf("old")
		head[fmt.Sprintf("workflows/w%02d.json", i)] = wf("new")
	}
	r, err := Compare(t.Context(), newCompiler(t), "base", "head", base, head)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, MarkdownBudget); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if len(out) > MarkdownBudget {
		t.Errorf("markdown is %d bytes, over the budget of %d", len(out), MarkdownBudget)
	}
	if open, closed := strings.Count(out, "<details>"), strings.Count(out, "</details>"); open != closed || open == 0 {
		t.Errorf("%d objects opened, %d closed: an object was cut", open, closed)
	}
	shown := strings.Count(out, "<details>")
	want := fmt.Sprintf("…and %d more objects changed, not shown", 30-shown)
	if !strings.Contains(out, want) {
		t.Errorf("markdown lacks %q; it ends:\n%s", want, out[len(out)-300:])
	}
}

// TestCompareRedacts reviews each change of
// ../workflow/testdata/redaction.json: the comment, the text and the JSON
// show that a secret changed, never its value.
func TestCompareRedacts(t *testing.T) {
	t.Parallel()
	cases := testutil.RedactionCases(t, "../workflow/testdata/redaction.json")
	c := newCompiler(t)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			const file = "workflows/leaky.json"
			r, err := Compare(t.Context(), c, "base", "head", source.Files{file: tc.From}, source.Files{file: tc.To})
			if err != nil {
				t.Fatal(err)
			}
			// A head that check refuses for the secret it holds is
			// reviewed as invalid; its problems must not show the value
			// either.
			refused := len(r.Problems) > 0
			var out bytes.Buffer
			for _, write := range []func(io.Writer) error{
				func(w io.Writer) error { return r.WriteMarkdown(w, MarkdownBudget) },
				r.WriteText,
				r.WriteJSON,
			} {
				if err := write(&out); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range tc.Secrets {
				if strings.Contains(out.String(), s) {
					t.Errorf("the review shows %q:\n%s", s, out.String())
				}
			}
			// A review leaves out a change to a workflow's own fields
			// that changes no object.
			if !refused && len(r.Workflows) > 0 && !strings.Contains(out.String(), workflow.Redacted) {
				t.Errorf("the review does not say that a secret changed:\n%s", out.String())
			}
		})
	}
}
