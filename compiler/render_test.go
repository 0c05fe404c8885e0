package compiler

import (
	"testing"

	"github.com/slipway-gitops/slipway/workflow"
)

// TestEveryKindHasARenderer checks that adding a node kind to the workflow
// package cannot leave it without a renderer.
func TestEveryKindHasARenderer(t *testing.T) {
	t.Parallel()
	for _, k := range workflow.Kinds {
		if renderers[k] == nil {
			t.Errorf("node kind %q has no renderer in renderers", k)
		}
	}
	if len(renderers) != len(workflow.Kinds) {
		t.Errorf("renderers has %d kinds, workflow.Kinds %d", len(renderers), len(workflow.Kinds))
	}
}
