package compose

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenInputErrors holds the errors of invalid compose files: each
// names the file, line and column of the offending key, and suggests the
// closest valid name.
func TestGoldenInputErrors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid compose files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			_, err := Import(t.Context(), Options{Files: []string{file}})
			if err == nil {
				t.Fatal("imported an invalid file")
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("not an *InputError: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".txt", err.Error()+"\n")
		})
	}
}

