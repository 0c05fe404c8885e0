package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/source"
)

// TestAdoptKubeOrch renders the same workflow on a cluster that adopts
// KubeOrch's objects and on one that does not: only the workloads'
// selectors, their pod labels, the Service's selector and how Flux
// applies a Job differ.
func TestAdoptKubeOrch(t *testing.T) {
	t.Parallel()
	wf := `{"name": "k", "status": "published", "nodes": [` + dep + `,
		{"id": "st", "type": "statefulset", "position": {"x": 0, "y": 0}, "data": {"name": "db", "image": "postgres:17", "serviceName": "db"}},
		{"id": "ds", "type": "daemonset", "position": {"x": 0, "y": 0}, "data": {"name": "agent", "image": "busybox:1.37"}},
		{"id": "s", "type": "service", "position": {"x": 0, "y": 0}, "data": {"name": "app", "port": 80}},
		{"id": "j", "type": "job", "position": {"x": 0, "y": 0}, "data": {"name": "migrate", "image": "busybox:1.37"}},
		{"id": "o", "type": "service", "position": {"x": 0, "y": 0}, "data": {"name": "other", "port": 80, "selector": {"role": "x"}}}
	], "edges": [{"id": "e", "source": "s", "target": "d"}]}`
	build := func(t *testing.T, cluster string) Tree {
		t.Helper()
		c := newCompiler(t)
		res := build(t, c, source.Files{"workflows/k.json": []byte(wf), "clusters/c.json": []byte(cluster)})
		return res.Tree
	}
	plain := build(t, `{"name": "c", "default": true}`)
	adopted := build(t, `{"name": "c", "default": true, "adopt": "kubeorch"}`)
	slipway := map[string]any{"app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": "k"}
	pods := map[string]any{"app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": "k", "app.kubernetes.io/managed-by": "slipway"}
	for _, tc := range []struct {
		file, path     string
		plain, adopted any
	}{
		{"deployment-app.yaml", "spec.selector.matchLabels", slipway, map[string]any{"app": "app"}},
		{"deployment-app.yaml", "spec.template.metadata.labels", pods, map[string]any{"app": "app", "app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": "k", "app.kubernetes.io/managed-by": "slipway"}},
		{"statefulset-db.yaml", "spec.selector.matchLabels", nil, map[string]any{"app": "db"}},
		{"daemonset-agent.yaml", "spec.selector.matchLabels", nil, map[string]any{"app": "agent"}},
		{"daemonset-agent.yaml", "spec.template.metadata.labels.app", nil, "agent"},
		{"service-app.yaml", "spec.selector", slipway, map[string]any{"app": "app"}},
		{"service-other.yaml", "spec.selector", map[string]any{"role": "x"}, map[string]any{"role": "x"}},
		{"service-db.yaml", "spec.selector", nil, map[string]any{"app": "db"}},
		// A Job that exists is left as it is, not recreated to run again.
		{"job-migrate.yaml", "metadata.annotations", map[string]any{"slipway.dev/node-id": "j", AnnotationFluxForce: "enabled"}, map[string]any{"slipway.dev/node-id": "j", AnnotationFluxSSA: "IfNotPresent"}},
	} {
		t.Run(tc.file+" "+tc.path, func(t *testing.T) {
			for _, side := range []struct {
				tree Tree
				want any
			}{{plain, tc.plain}, {adopted, tc.adopted}} {
				if side.want == nil {
					continue
				}
				b, ok := side.tree["workflows/k/base/"+tc.file]
				if !ok {
					t.Fatalf("no %s", tc.file)
				}
				var obj any
				if err := yaml.Unmarshal(b, &obj); err != nil {
					t.Fatal(err)
				}
				got, err := lookup(obj, tc.path)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(normal(t, side.want), normal(t, got)); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			}
		})
	}
	t.Run("everything else is the same", func(t *testing.T) {
		if len(plain) != len(adopted) {
			t.Errorf("%d files, %d when adopting", len(plain), len(adopted))
		}
		same := 0
		for name, b := range plain {
			if string(adopted[name]) == string(b) {
				same++
			}
		}
		// The Deployment, StatefulSet, DaemonSet, Job, the drawn Service
		// and the StatefulSet's governing Service differ.
		if same != len(plain)-6 {
			t.Errorf("%d of %d files differ, want 6", len(plain)-same, len(plain))
		}
	})
}

// TestAdoptRefusesUnknown checks that adopt takes only known systems.
func TestAdoptRefusesUnknown(t *testing.T) {
	t.Parallel()
	c := newCompiler(t)
	_, err := c.Build(t.Context(), source.Files{"workflows/k.json": []byte(`{"name": "k", "status": "published", "nodes": [` + dep + `], "edges": []}`),
		"clusters/c.json": []byte(`{"name": "c", "default": true, "adopt": "helm"}`)})
	if err == nil || err.Error() != `clusters/c.json: /adopt: "helm" must be one of kubeorch` {
		t.Errorf("got %v", err)
	}
}
