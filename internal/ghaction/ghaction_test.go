package ghaction

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/workflow"
)

const shop = `{
  "name": "shop",
  "status": "published",
  "nodes": [
    {
      "id": "api",
      "type": "deployment",
      "position": {"x": 0, "y": 0},
      "data": {"name": "api", "image": "shop/api:1.0", "port": 70000}
    }
  ],
  "edges": []
}
`

func TestAnnotate(t *testing.T) {
	t.Parallel()
	var minified bytes.Buffer
	if err := json.Compact(&minified, []byte(shop)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		content   string
		dir       string
		line, col int
		wantAt    string // what the annotation points at
	}{
		{"nested", shop, ".", 9, 64, "70000"},
		{"minified", minified.String(), ".", 1, 154, "70000"},
		{"in a subdirectory", shop, "deploy/src", 9, 64, "70000"},
		{"not JSON", strings.Replace(shop, `"edges"`, `edges`, 1), ".", 12, 3, "edges"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const file = "workflows/shop.json"
			_, err := workflow.Decode(file, []byte(tc.content))
			problems := workflow.AsErrors(err)
			if len(problems) != 1 {
				t.Fatalf("Decode gave %v, want one problem", err)
			}
			got := Annotate(problems, tc.dir, func(name string) ([]byte, error) {
				if name != file {
					return nil, fs.ErrNotExist
				}
				return []byte(tc.content), nil
			})
			if len(got) != 1 {
				t.Fatalf("got %d annotations, want 1", len(got))
			}
			a := got[0]
			if a.File != strings.TrimPrefix(tc.dir+"/"+file, "./") || a.Line != tc.line || a.Column != tc.col {
				t.Errorf("annotation at %s:%d:%d, want %s/%s:%d:%d", a.File, a.Line, a.Column, tc.dir, file, tc.line, tc.col)
			}
			lines := strings.Split(tc.content, "\n")
			if at := []rune(lines[a.Line-1])[a.Column-1:]; !strings.HasPrefix(string(at), tc.wantAt) {
				t.Errorf("annotation points at %.20q, want %q", string(at), tc.wantAt)
			}
		})
	}
}

func TestAnnotateUnreadableFile(t *testing.T) {
	t.Parallel()
	problems := workflow.Errors{{File: "workflows/gone.json", Pointer: "/nodes/0", Message: "gone"}, {Message: "no file"}}
	got := Annotate(problems, ".", func(string) ([]byte, error) { return nil, errors.New("unreadable") })
	want := []string{
		"::error file=workflows/gone.json,title=slipway%3A workflows/gone.json /nodes/0::gone",
		"::error title=slipway::no file",
	}
	for i, a := range got {
		if a.String() != want[i] {
			t.Errorf("annotation %d = %s, want %s", i, a, want[i])
		}
	}
}

func TestAnnotationString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a    Annotation
		want string
	}{
		{"full", Annotation{File: "workflows/a.json", Line: 3, Column: 7, Title: "slipway: workflows/a.json /nodes/0 (node \"x\")", Message: "must be 1..65535, not 70000"},
			`::error file=workflows/a.json,line=3,col=7,title=slipway%3A workflows/a.json /nodes/0 (node "x")::must be 1..65535, not 70000`},
		{"escapes", Annotation{File: "a,b:c.json", Line: 1, Title: "50%", Message: "two\nlines, 100%\r"},
			"::error file=a%2Cb%3Ac.json,line=1,title=50%25::two%0Alines, 100%25%0D"},
		{"no place", Annotation{Message: "x"}, "::error::x"},
		{"warning", Annotation{Level: Warning, File: "workflows/a.json", Line: 2, Message: "job migrate: pod template changed"},
			"::warning file=workflows/a.json,line=2::job migrate: pod template changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.a.String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWriteOutput(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteOutput(&b, "objects-added", "3"); err != nil {
		t.Fatal(err)
	}
	if err := WriteOutput(&b, "x", "a\nb"); err == nil {
		t.Error("a value with a line break was written")
	}
	if b.String() != "objects-added=3\n" {
		t.Errorf("output file holds %q", b.String())
	}
}
