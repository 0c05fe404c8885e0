package workflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"

	"github.com/google/go-cmp/cmp"
)

func TestDiffRedacts(t *testing.T) {
	t.Parallel()
	for _, tc := range testutil.RedactionCases(t, "testdata/redaction.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			for _, dir := range [][2]json.RawMessage{{tc.From, tc.To}, {tc.To, tc.From}} {
				shown, err := json.Marshal([]any{Diff(graph(t, string(dir[0])), graph(t, string(dir[1]))), DiffFields(dir[0], dir[1])})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range tc.Secrets {
					if strings.Contains(string(shown), s) {
						t.Errorf("the diff shows %q: %s", s, shown)
					}
				}
				if !strings.Contains(string(shown), Redacted) {
					t.Errorf("the diff does not say that a secret changed: %s", shown)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"env": []any{
			map[string]any{"name": "MODE", "value": "fast"},
			map[string]any{"name": "DB_PASSWORD", "value": "hunter2"},
			map[string]any{"name": "API_TOKEN", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "api", "key": "token"}}},
			map[string]any{"name": "DB_PASS", "valueFrom": "hunter3"},
		},
		"args":  []any{"--url=postgres://app:hunter4@db/app", "-v"},
		"token": json.Number("1234"),
	}
	want := map[string]any{
		"env": []any{
			map[string]any{"name": "MODE", "value": "fast"},
			map[string]any{"name": "DB_PASSWORD", "value": Redacted},
			map[string]any{"name": "API_TOKEN", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "api", "key": "token"}}},
			map[string]any{"name": "DB_PASS", "valueFrom": Redacted},
		},
		"args":  []any{Redacted, "-v"},
		"token": Redacted,
	}
	if diff := cmp.Diff(want, Redact(in)); diff != "" {
		t.Errorf("Redact (-want +got):\n%s", diff)
	}
	if in["token"] != json.Number("1234") {
		t.Error("Redact changed its input")
	}
}
