package compose

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/slipway-gitops/slipway/workflow"
)

// FuzzImport imports arbitrary compose files: no input may panic, and an
// import that succeeds yields a valid workflow whose report names its
// fields.
func FuzzImport(f *testing.F) {
	// compose-go warns through the global logrus logger on most inputs;
	// a fuzz worker that writes that much stalls on its output pipe.
	logrus.SetOutput(io.Discard)
	for _, file := range composeFixtures(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Import(t.Context(), Options{Files: []string{file}, Name: "fuzz"})
		if err != nil {
			if strings.Contains(err.Error(), "please report") {
				t.Fatal(err)
			}
			return
		}
		if _, err := workflow.Decode(workflow.WorkflowFile(res.Workflow.Name), res.JSON); err != nil {
			t.Fatalf("import made an invalid workflow: %v", err)
		}
		for _, e := range res.Report.Entries {
			if e.Field == "" || e.Status == "" {
				t.Fatalf("report entry without field or status: %+v", e)
			}
		}
	})
}
