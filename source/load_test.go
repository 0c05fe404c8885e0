package source_test

import (
	"os"
	"testing"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

func TestLoader(t *testing.T) {
	t.Parallel()
	files, err := source.ReadDir(os.DirFS("../fixtures/repo"))
	if err != nil {
		t.Fatal(err)
	}
	var l source.Loader
	first, err := l.Load(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Err(); err != nil {
		t.Fatalf("the fixture repository is invalid: %v", err)
	}
	if first.Decoded != len(first.Workflows) || len(first.Clusters) == 0 {
		t.Fatalf("decoded %d of %d workflows and %d clusters", first.Decoded, len(first.Workflows), len(first.Clusters))
	}

	broken := source.Files{}
	for p, b := range files {
		broken[p] = b
	}
	broken["clusters/edge.json"] = []byte(`{"name": "not-edge"}`)
	second, err := l.Load(t.Context(), broken)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("unchanged files are not decoded again", func(t *testing.T) {
		if second.Decoded != 0 {
			t.Errorf("decoded %d workflows again", second.Decoded)
		}
		for i, w := range second.Workflows {
			if w != first.Workflows[i] {
				t.Errorf("%s was decoded again", w.Name)
			}
		}
	})
	t.Run("an invalid cluster file is a problem of the repository", func(t *testing.T) {
		problems := workflow.AsErrors(second.Err())
		if len(problems) == 0 || len(second.Invalid["clusters/edge.json"]) == 0 {
			t.Fatalf("no problem with clusters/edge.json: %v", second.Err())
		}
		for _, e := range problems {
			if e.File != "clusters/edge.json" {
				t.Errorf("a problem of another file: %v", e)
			}
		}
		if got := second.Problems(); len(got) < len(problems) {
			t.Errorf("Problems lists %d, Err %d", len(got), len(problems))
		}
	})
}

func TestReadDirRefusesSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/workflows", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", dir+"/workflows/x.json"); err != nil {
		t.Fatal(err)
	}
	_, err := source.ReadDir(os.DirFS(dir))
	if want := source.SymlinkError("workflows/x.json"); err == nil || err.Error() != want.Error() {
		t.Errorf("got %v, want %v", err, want)
	}
}
