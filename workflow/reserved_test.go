package workflow

import (
	"strings"
	"testing"
)

// TestReservedNames checks that workflows cannot take the names of Flux's
// objects or the operator's usual Kustomizations, which their generated
// Kustomizations would replace.
func TestReservedNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string // empty: accepted
	}{
		{"flux-system", `workflows/flux-system.json: /name: "flux-system" is reserved: Flux's own Kustomization and GitRepository`},
		{"apps", `workflows/apps.json: /name: "apps" is reserved: the name Flux's repository layout gives`},
		{"infrastructure", `/name: "infrastructure" is reserved`},
		{"slipway", `/name: "slipway" is reserved: the deploy branch's GitRepository`},
		{"slipway-prod", `/name: "slipway-prod" is reserved: names starting with slipway- are the cluster Kustomizations`},
		{"flux-monitoring", `/name: "flux-monitoring" is reserved: names starting with flux- are Flux's`},
		{"kube-system", `/name: namespace "kube-system" belongs to Kubernetes or Flux`},
		{"shop", ""},
		{"fluxapp", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := WorkflowFile(tt.name)
			_, err := Decode(file, []byte(`{"name": "`+tt.name+`", "status": "published", "nodes": [], "edges": []}`))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Decode: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("Decode succeeded; want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error lacks %q; got:\n%v", tt.want, err)
			}
		})
	}
}
