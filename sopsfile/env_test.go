package sopsfile_test

import (
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/source"
)

// TestEnvKey: a variable a workload gives by name only is the key
// <workload>.<NAME> of the environment Secret; one it does not declare
// so, or a node that is no workload, is not.
func TestEnvKey(t *testing.T) {
	t.Parallel()
	var loader source.Loader
	r, err := loader.Load(t.Context(), repo(t, nil, map[string]any{"age": []any{recipient}, "keySecret": "sops-age"}, nil))
	if err != nil || len(r.Workflows) != 1 {
		t.Fatalf("load: %v, %d workflows", err, len(r.Workflows))
	}
	w := r.Workflows[0]
	for _, tc := range []struct {
		name, id, variable, key string
		declared                bool
	}{
		{"by name only", "app", "API_TOKEN", "app.API_TOKEN", true},
		{"not declared", "app", "OTHER", "app.OTHER", false},
		{"a secret node", "creds", "API_TOKEN", "", false},
		{"no such node", "nope", "API_TOKEN", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if key, declared := sopsfile.EnvKey(w, tc.id, tc.variable); key != tc.key || declared != tc.declared {
				t.Errorf("EnvKey(%s, %s) = %q, %t, want %q, %t", tc.id, tc.variable, key, declared, tc.key, tc.declared)
			}
		})
	}
	if got := strings.Join(sopsfile.EnvKeys(w), ","); got != "app.API_TOKEN" {
		t.Errorf("EnvKeys = %s", got)
	}
}
