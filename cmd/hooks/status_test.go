package main

import (
	"slices"
	"testing"

	"github.com/slipway-gitops/slipway/hooks"
)

// TestFluxNamespaces: status believes Flux objects in HOOKS_FLUX_SOURCE's
// namespace and, while they move, in HOOKS_FLUX_MOVE_FROM's after it.
func TestFluxNamespaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, source, moveFrom string
		want                   []string
	}{
		{"the source's namespace", "slipway/slipway", "", []string{"slipway"}},
		{"another namespace", "gitops/deploy", "", []string{"gitops"}},
		{"moving from flux-system", "slipway/slipway", "flux-system", []string{"slipway", "flux-system"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := fluxNamespaces(&hooks.Config{FluxSource: tc.source, FluxMoveFrom: tc.moveFrom})
			if !slices.Equal(got, tc.want) {
				t.Errorf("namespaces %q, want %q", got, tc.want)
			}
		})
	}
}
