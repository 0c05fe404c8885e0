package compose

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopiesMatchUpstream checks that internal/loader and internal/cli are
// compose-go's packages of the version in go.mod, file for file, but for
// the changes their doc.go describes.
func TestCopiesMatchUpstream(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}}", "github.com/compose-spec/compose-go/v2").Output()
	upstream := strings.TrimSpace(string(out))
	if err != nil || upstream == "" {
		t.Skipf("SKIPPED: compose-go's source is not in the module cache (go list: %v); run go mod download", err)
	}
	const (
		loaderImport = "\t\"github.com/compose-spec/compose-go/v2/loader\"\n"
		utilsImport  = "\t\"github.com/compose-spec/compose-go/v2/utils\"\n"
	)
	for _, tc := range []struct {
		pkg string
		// edits are replaced once each in the file named by the key.
		edits map[string][][2]string
	}{
		{pkg: "loader", edits: map[string][][2]string{"loader.go": {
			{"\t\"github.com/compose-spec/compose-go/v2/schema\"\n", ""},
			{"\t\t\tif err := schema.Validate(dict); err != nil {\n\t\t\t\treturn fmt.Errorf(\"validating %s: %w\", file.Filename, err)\n\t\t\t}\n", ""},
		}}},
		{pkg: "cli", edits: map[string][][2]string{"options.go": {
			{loaderImport, ""},
			{utilsImport, utilsImport + "\n\t\"github.com/slipway-gitops/slipway/compose/internal/loader\"\n"},
		}}},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			t.Parallel()
			copied := filepath.Join("internal", tc.pkg)
			files, err := filepath.Glob(filepath.Join(upstream, tc.pkg, "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{"doc.go": true}
			for _, f := range files {
				name := filepath.Base(f)
				if strings.HasSuffix(name, "_test.go") {
					continue
				}
				seen[name] = true
				want, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range tc.edits[name] {
					if bytes.Count(want, []byte(e[0])) != 1 {
						t.Fatalf("compose-go's %s does not have %q once: update the copy by hand (see %s/doc.go)", f, e[0], copied)
					}
					want = bytes.Replace(want, []byte(e[0]), []byte(e[1]), 1)
				}
				got, err := os.ReadFile(filepath.Join(copied, name))
				if err != nil {
					t.Errorf("%s of compose-go is not copied: %v", name, err)
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%s differs from compose-go's %s: copy it again (see doc.go)", copied, name, f)
				}
			}
			local, err := filepath.Glob(filepath.Join(copied, "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range local {
				if !seen[filepath.Base(f)] {
					t.Errorf("%s is not a file of compose-go's %s: remove it", f, tc.pkg)
				}
			}
		})
	}
}
