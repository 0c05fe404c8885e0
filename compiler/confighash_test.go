package compiler

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// configNodes is a workflow whose deployment "app" reads a mounted
// ConfigMap, a Secret as environment, a ConfigMap key named in envKeys and
// the ExternalSecret that supplies the Secret; the job "once" reads the
// mounted ConfigMap too, and the ConfigMap "other" is read by nothing.
const configNodes = `
{"id": "d", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "app", "image": "nginx:1.27", "port": 8080,
	"envKeys": [{"name": "MODE", "configMapKeyRef": {"name": "flags", "key": "mode"}}]}},
{"id": "j", "type": "job", "position": {"x": 0, "y": 0}, "data": {"name": "once", "image": "busybox:1.36"}},
{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "cfg", "data": {"a": "1", "b": "2"}}},
{"id": "f", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "flags", "data": {"mode": "fast"}}},
{"id": "o", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "other", "data": {"x": "1"}}},
{"id": "s", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "api", "keys": [{"name": "token"}, {"name": "url"}]}},
{"id": "es", "type": "plugin", "position": {"x": 0, "y": 0}, "data": {"name": "api-sync", "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
	"_pluginFields": [{"id": "target.name", "type": "text"}, {"id": "data", "type": "list"}],
	"target.name": "api", "data": [{"secretKey": "token", "remoteRef": {"key": "shop/api"}}]}}`

const configEdges = `{"id": "e1", "source": "c", "target": "d"}, {"id": "e2", "source": "s", "target": "d", "targetHandle": "envFrom"},
	{"id": "e3", "source": "c", "target": "j"}`

// TestConfigHash edits the workflow of configNodes and says whether the
// config hash on app's pod template changes: it does for each change of
// what the pods read, and not for anything else.
func TestConfigHash(t *testing.T) {
	t.Parallel()
	base := configHash(t, configNodes)
	if len(base) != 64 {
		t.Fatalf("config hash %q: want 64 hex digits", base)
	}
	for _, tc := range []struct {
		name     string
		old, new string
		changes  bool
	}{
		{"mounted configmap value", `"b": "2"`, `"b": "3"`, true},
		{"mounted configmap key added", `"b": "2"`, `"b": "2", "c": "3"`, true},
		{"configmap named in envKeys", `"mode": "fast"`, `"mode": "slow"`, true},
		{"secret key added", `{"name": "url"}`, `{"name": "url"}, {"name": "ca"}`, true},
		{"external source of the secret", `"remoteRef": {"key": "shop/api"}`, `"remoteRef": {"key": "shop/api2"}`, true},
		{"configmap keys reordered", `{"a": "1", "b": "2"}`, `{"b": "2", "a": "1"}`, false},
		{"secret keys reordered", `{"name": "token"}, {"name": "url"}`, `{"name": "url"}, {"name": "token"}`, false},
		{"unrelated configmap", `"x": "1"`, `"x": "2"`, false},
		{"image", `nginx:1.27`, `nginx:1.28`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(configNodes, tc.old) {
				t.Fatalf("the workflow has no %s", tc.old)
			}
			got := configHash(t, strings.Replace(configNodes, tc.old, tc.new, 1))
			if changed := got != base; changed != tc.changes {
				t.Errorf("hash changed = %v, want %v (%s → %s)", changed, tc.changes, base, got)
			}
		})
	}
}

// TestConfigHashOnlyOnRollingWorkloads: a Job, whose pod template cannot
// change, and a workload that reads no ConfigMap or Secret get no hash.
func TestConfigHashOnlyOnRollingWorkloads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, nodes, edges, file string
	}{
		{"job reading a configmap", configNodes, configEdges, "job-once.yaml"},
		{"deployment reading nothing", dep, "", "deployment-app.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var obj any
			if err := yaml.Unmarshal(compileOne(t, tc.nodes, tc.edges)["workflows/k/base/"+tc.file], &obj); err != nil {
				t.Fatal(err)
			}
			if got, err := lookup(obj, "spec.template.metadata.annotations"); err == nil {
				t.Errorf("%s: pod template annotations %v, want none", tc.file, got)
			}
		})
	}
}

// configHash compiles a workflow of nodes with configEdges and returns the
// config hash of deployment app.
func configHash(t *testing.T, nodes string) string {
	t.Helper()
	tree := compileOne(t, nodes, configEdges)
	var obj any
	if err := yaml.Unmarshal(tree["workflows/k/base/deployment-app.yaml"], &obj); err != nil {
		t.Fatal(err)
	}
	h, err := lookup(obj, `spec.template.metadata.annotations.slipway\.dev/config-hash`)
	if err != nil {
		t.Fatalf("deployment app: %v", err)
	}
	return h.(string)
}
