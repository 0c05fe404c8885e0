package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/workflow"
)

// TestCheckListsIgnoredAndWarnings checks that check -o json lists the
// editor state it ignored and the warnings of drafts, per workflow.
func TestCheckListsIgnoredAndWarnings(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(t, "check", "--source", "../../fixtures/kubeorch", "-o", "json")
	if code != 0 {
		t.Fatalf("exit code %d: %s%s", code, stdout, stderr)
	}
	var out struct {
		Valid     bool `json:"valid"`
		Workflows []struct {
			Name     string             `json:"name"`
			Warnings []workflow.Error   `json:"warnings"`
			Ignored  []workflow.Ignored `json:"ignored"`
		} `json:"workflows"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, w := range out.Workflows {
		got[w.Name+" warnings"] = len(w.Warnings)
		for _, ig := range w.Ignored {
			if ig.Pointer == "/nodes/0/data/_status" {
				got[w.Name+" _status"]++
			}
			if ig.Reason == "" {
				t.Errorf("%s %s: ignored without a reason", w.Name, ig.Pointer)
			}
		}
	}
	for k, want := range map[string]int{"sketch warnings": 3, "storefront warnings": 0, "storefront _status": 1, "workers _status": 1} {
		if got[k] != want {
			t.Errorf("%s: %d, want %d", k, got[k], want)
		}
	}
	_, text, _ := runCmd(t, "check", "--source", "../../fixtures/kubeorch")
	if !strings.Contains(text, `warning: workflows/sketch.json: /nodes/0/data/image: is required`) {
		t.Errorf("check does not print the draft's warnings:\n%s", text)
	}
}
