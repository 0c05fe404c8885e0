package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestReplicasHandedToHPA: a workload an hpa scales keeps spec.replicas
// (its own count, else the hpa's minReplicas, else 1), and the workflow's
// Kustomization ignores that field of each such workload, so that Flux
// never removes it (which would scale to 1) nor sets it back over the
// HPA's count.
func TestReplicasHandedToHPA(t *testing.T) {
	t.Parallel()
	const (
		web = `{"id": "w", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "web", "image": "nginx:1.27", "replicas": 3,
			"resources": {"requests": {"cpu": "100m"}}}}`
		db = `{"id": "s", "type": "statefulset", "position": {"x": 0, "y": 0}, "data": {"name": "db", "serviceName": "db", "image": "postgres:16",
			"resources": {"requests": {"cpu": "100m"}}}}`
		hpaWeb = `{"id": "hw", "type": "hpa", "position": {"x": 0, "y": 0}, "data": {"name": "web", "minReplicas": 2, "maxReplicas": 9, "targetCPUUtilization": 80}}`
		hpaDB  = `{"id": "hd", "type": "hpa", "position": {"x": 0, "y": 0}, "data": {"name": "db", "maxReplicas": 4, "targetCPUUtilization": 80}}`
	)
	ignore := func(kind, name string) map[string]any {
		return map[string]any{"paths": []any{"/spec/replicas"}, "target": map[string]any{"group": "apps", "version": "v1", "kind": kind, "name": name}}
	}
	for _, tc := range []struct {
		name, nodes, edges string
		replicas           map[string]any // by base file
		ignore             []any
	}{
		{
			name:     "no hpa",
			nodes:    web + "," + db,
			replicas: map[string]any{"deployment-web.yaml": 3, "statefulset-db.yaml": nil},
		},
		{
			name:  "hpa on each",
			nodes: web + "," + db + "," + hpaWeb + "," + hpaDB,
			edges: `{"id": "e1", "source": "hw", "target": "w"}, {"id": "e2", "source": "hd", "target": "s"}`,
			// web keeps its count; db, which has none, starts at the hpa's
			// minReplicas, which Kubernetes defaults to 1.
			replicas: map[string]any{"deployment-web.yaml": 3, "statefulset-db.yaml": 1},
			ignore:   []any{ignore("Deployment", "web"), ignore("StatefulSet", "db")},
		},
		{
			name:     "minReplicas for a workload without a count",
			nodes:    `{"id": "w", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": "100m"}}}},` + hpaWeb,
			edges:    `{"id": "e1", "source": "hw", "target": "w"}`,
			replicas: map[string]any{"deployment-web.yaml": 2},
			ignore:   []any{ignore("Deployment", "web")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tree := compileOne(t, tc.nodes, tc.edges)
			for file, want := range tc.replicas {
				var obj any
				if err := yaml.Unmarshal(tree["workflows/k/base/"+file], &obj); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				got, _ := lookup(obj, "spec.replicas")
				if diff := cmp.Diff(normal(t, want), normal(t, got)); diff != "" {
					t.Errorf("%s: spec.replicas (-want +got):\n%s", file, diff)
				}
			}
			var k any
			if err := yaml.Unmarshal(tree["clusters/default/k.yaml"], &k); err != nil {
				t.Fatal(err)
			}
			got, _ := lookup(k, "spec.ignore")
			if diff := cmp.Diff(normal(t, tc.ignore), normal(t, got)); diff != "" {
				t.Errorf("Kustomization spec.ignore (-want +got):\n%s", diff)
			}
		})
	}
}
