package workflow

import (
	"strings"
	"testing"
)

// TestReservedNames checks that workflows cannot take the names of the
// cluster Kustomizations, which share the namespace of Slipway's Flux
// objects, nor deploy into Kubernetes' or Flux's namespaces, while names
// that only the operator's Flux objects elsewhere have are free.
func TestReservedNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string // empty: accepted
	}{
		{"slipway-prod", `workflows/slipway-prod.json: /name: "slipway-prod" is reserved: names starting with slipway- are the cluster Kustomizations`},
		{"kube-system", `/name: namespace "kube-system" belongs to Kubernetes or Flux`},
		{"flux-system", `/name: namespace "flux-system" belongs to Kubernetes or Flux`},
		{"shop", ""},
		{"apps", ""},
		{"infrastructure", ""},
		{"flux-monitoring", ""},
		{"slipway", ""},
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
