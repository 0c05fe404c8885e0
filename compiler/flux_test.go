package compiler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slipway-gitops/slipway/source"
	"sigs.k8s.io/yaml"
)

// TestFluxSettingsFromRepository checks that the settings of a generated
// Kustomization come from the workflow, then its cluster file, then the
// options, and that a repository that sets them renders the same tree
// whatever the options say.
func TestFluxSettingsFromRepository(t *testing.T) {
	t.Parallel()
	src := source.Files{
		"clusters/prod.json": []byte(`{"name": "prod", "default": true, "flux": {"interval": "5m", "timeout": "3m", "retryInterval": "30s",
			"serviceAccountName": "slipway-apply", "dependsOn": [{"name": "cert-manager"}, {"name": "secrets", "namespace": "ops"}]}}`),
		"workflows/slow.json": []byte(`{"name": "slow", "status": "published", "flux": {"timeout": "15m", "dependsOn": [{"name": "ingress-nginx", "namespace": "flux-system"}]},
			"dependsOn": ["plain"], "nodes": [{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`),
		"workflows/plain.json": []byte(`{"name": "plain", "status": "published", "nodes": [{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`),
	}
	tests := []struct {
		name string
		file string
		want map[string]any
	}{
		{"cluster settings", "clusters/prod/plain.yaml", map[string]any{
			"interval": "5m0s", "timeout": "3m0s", "retryInterval": "30s", "serviceAccountName": "slipway-apply",
			"dependsOn": []any{map[string]any{"name": "cert-manager"}, map[string]any{"name": "secrets", "namespace": "ops"}},
		}},
		{"workflow overrides and adds", "clusters/prod/slow.yaml", map[string]any{
			"interval": "5m0s", "timeout": "15m0s", "retryInterval": "30s", "serviceAccountName": "slipway-apply",
			"dependsOn": []any{
				map[string]any{"name": "cert-manager"}, map[string]any{"name": "ingress-nginx"}, map[string]any{"name": "plain"},
				map[string]any{"name": "secrets", "namespace": "ops"},
			},
		}},
	}
	var trees []Tree
	for _, d := range []time.Duration{time.Minute, time.Hour} {
		opts := DefaultOptions()
		opts.Interval, opts.Timeout, opts.RetryInterval = d, d, d
		c, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Build(t.Context(), src)
		if err != nil {
			t.Fatal(err)
		}
		trees = append(trees, res.Tree)
	}
	if diff := cmp.Diff(trees[0], trees[1]); diff != "" {
		t.Errorf("the options changed a tree whose repository sets every Flux setting (-first +second):\n%s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var k map[string]any
			if err := yaml.Unmarshal(trees[0][tt.file], &k); err != nil {
				t.Fatal(err)
			}
			spec := k["spec"].(map[string]any)
			for field, want := range tt.want {
				if diff := cmp.Diff(normal(t, want), normal(t, spec[field])); diff != "" {
					t.Errorf("spec.%s (-want +got):\n%s", field, diff)
				}
			}
		})
	}
}

// TestFluxNamespaceRefused checks that no workflow deploys into the
// namespace of the Flux objects, whatever it is called.
func TestFluxNamespaceRefused(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.SourceRefNamespace = "gitops"
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Build(t.Context(), source.Files{"workflows/tools.json": []byte(`{"name": "tools", "status": "published", "namespace": "gitops", "nodes": [], "edges": []}`)})
	want := `workflows/tools.json: /namespace: namespace "gitops" holds the Flux objects; a workflow cannot deploy into it`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("build: %v; want %q", err, want)
	}
}
