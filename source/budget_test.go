package source_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	type take struct {
		path string
		size int64
		ok   bool
	}
	// full fills the budget with files of the largest size.
	full := func() []take {
		var out []take
		for i := range source.MaxSize / workflow.MaxFileSize {
			out = append(out, take{fmt.Sprintf("workflows/w%d.json", i), workflow.MaxFileSize, true})
		}
		return out
	}
	tests := []struct {
		name     string
		takes    []take
		problems []string
	}{
		{"within both bounds", []take{{"workflows/a.json", 10, true}, {"workflows/b.json", workflow.MaxFileSize, true}}, nil},
		{"a file over its bound", []take{{"workflows/a.json", workflow.MaxFileSize + 1, false}, {"workflows/b.json", 1, true}},
			[]string{fmt.Sprintf("workflows/a.json: file is %d bytes; the limit is %d", workflow.MaxFileSize+1, workflow.MaxFileSize)}},
		{"files over the total", append(full(), take{"workflows/b.json", 1, false}, take{"workflows/c.json", 0, true}, take{"workflows/d.json", 2, false}),
			[]string{
				fmt.Sprintf("workflows/b.json: the repository's files are over %d bytes together with this one; the limit is %d", source.MaxSize+1, source.MaxSize),
				fmt.Sprintf("workflows/d.json: the repository's files are over %d bytes together with this one; the limit is %d", source.MaxSize+2, source.MaxSize),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b source.Budget
			for _, tk := range tt.takes {
				if got := b.Take(tk.path, tk.size); got != tk.ok {
					t.Errorf("Take(%s, %d) = %v, want %v", tk.path, tk.size, got, tk.ok)
				}
			}
			var got []string
			for _, p := range b.Problems() {
				got = append(got, p.Error())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.problems) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.problems)
			}
		})
	}
}

// TestReadDirBudget: a checkout whose files are over the bounds is
// refused with a problem at each file past them, which is never read.
// The files are sparse: they take no disk.
func TestReadDirBudget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{"huge.json": workflow.MaxFileSize + 1}
	for i := range source.MaxSize/workflow.MaxFileSize + 1 {
		sizes[fmt.Sprintf("w%02d.json", i)] = workflow.MaxFileSize
	}
	for name, size := range sizes {
		f, err := os.Create(filepath.Join(dir, "workflows", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	_, err := source.ReadDir(os.DirFS(dir))
	var problems workflow.Errors
	if !errors.As(err, &problems) {
		t.Fatalf("got %v, want the files' problems", err)
	}
	var files []string
	for _, p := range problems {
		files = append(files, p.File)
	}
	want := []string{"workflows/huge.json", fmt.Sprintf("workflows/w%02d.json", source.MaxSize/workflow.MaxFileSize)}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Errorf("problems at %q, want %q", files, want)
	}
}
