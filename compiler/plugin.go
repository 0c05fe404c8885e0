package compiler

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-gitops/slipway/workflow"
)

// renderPlugin renders a custom resource. Each field value goes under spec
// at the path its id gives (dots nest); fields without a value use their
// default.
func renderPlugin(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.PluginData)
	meta := objectMeta(rc.wf, n, d.Name)
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(d.APIVersion)
	u.SetKind(d.Kind)
	u.SetName(meta.Name)
	u.SetLabels(meta.Labels)
	u.SetAnnotations(meta.Annotations)
	spec := map[string]any{}
	for _, f := range d.Fields {
		v, ok := d.Values[f.ID]
		if !ok {
			v = f.Default
		}
		if v == nil {
			continue
		}
		if err := setPath(spec, strings.Split(f.ID, "."), v); err != nil {
			return nil, fmt.Errorf("plugin field %q: %w", f.ID, err)
		}
	}
	if len(spec) > 0 {
		u.Object["spec"] = spec
	}
	return []object{{kind: d.Kind, name: d.Name, nodeID: n.ID, value: u.Object}}, nil
}

func setPath(m map[string]any, path []string, v any) error {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p]
		if !ok {
			child := map[string]any{}
			m[p] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%q holds a value and cannot also hold fields", p)
		}
		m = child
	}
	last := path[len(path)-1]
	if _, taken := m[last]; taken {
		return fmt.Errorf("%q is set twice", last)
	}
	m[last] = v
	return nil
}
