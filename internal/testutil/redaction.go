package testutil

import (
	"encoding/json"
	"os"
	"testing"
)

// RedactionCase is one way a secret value reaches a comparison of two
// versions of a workflow file; workflow/testdata/redaction.json holds
// them, for every view of a change (diff, review, compare API) to test.
type RedactionCase struct {
	Name string          `json:"name"`
	From json.RawMessage `json:"from"`
	To   json.RawMessage `json:"to"`
	// Secrets must not be shown.
	Secrets []string `json:"secrets"`
}

// RedactionCases reads the cases of file, a path to
// workflow/testdata/redaction.json from the test's package.
func RedactionCases(tb testing.TB, file string) []RedactionCase {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var cases []RedactionCase
	if err := json.Unmarshal(b, &cases); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return cases
}
