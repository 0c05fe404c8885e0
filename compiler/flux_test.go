package compiler

import (
	"strconv"
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
		"workflows/slow.json": []byte(`{"name": "slow", "status": "published", "flux": {"timeout": "15m", "dependsOn": [{"name": "ingress-nginx", "namespace": "slipway"}]},
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
		res := build(t, c, src)
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

// TestJobDeadlineWithinTimeout checks that a Job may not be allowed to
// run longer than its Kustomization waits for it, whichever setting gives
// the timeout, and that a CronJob's Jobs, which Flux does not wait for,
// may.
func TestJobDeadlineWithinTimeout(t *testing.T) {
	t.Parallel()
	job := func(kind string, deadline int, flux string) string {
		schedule := ""
		if kind == "cronjob" {
			schedule = `"schedule": "0 2 * * *", `
		}
		return `{"name": "batch", "status": "published", ` + flux + ` "nodes": [{"id": "migrate", "type": "` + kind + `", "position": {"x": 0, "y": 0},
			"data": {"name": "migrate", "image": "busybox:1.36", ` + schedule + `"activeDeadlineSeconds": ` + strconv.Itoa(deadline) + `}}], "edges": []}`
	}
	tests := []struct {
		name     string
		cluster  string
		workflow string
		want     string // empty: accepted
	}{
		{"default timeout", ``, job("job", 301, ""),
			`workflows/batch.json: /nodes/0/data/activeDeadlineSeconds: 5m1s is longer than 5m0s, the timeout of the workflow's Flux Kustomization (the compiler's --timeout): Flux's health check would fail before the Job's deadline; raise flux.timeout or lower activeDeadlineSeconds (node "migrate")`},
		{"as long as the timeout", ``, job("job", 300, ""), ""},
		{"cluster timeout", `, "flux": {"timeout": "2m"}`, job("job", 300, ""),
			`workflows/batch.json: /nodes/0/data/activeDeadlineSeconds: 5m0s is longer than 2m0s, the timeout of the workflow's Flux Kustomization (clusters/prod.json /flux/timeout): Flux's health check would fail before the Job's deadline; raise flux.timeout or lower activeDeadlineSeconds (node "migrate")`},
		{"workflow timeout", `, "flux": {"timeout": "1h"}`, job("job", 900, `"flux": {"timeout": "10m"},`),
			`workflows/batch.json: /nodes/0/data/activeDeadlineSeconds: 15m0s is longer than 10m0s, the timeout of the workflow's Flux Kustomization (/flux/timeout): Flux's health check would fail before the Job's deadline; raise flux.timeout or lower activeDeadlineSeconds (node "migrate")`},
		{"workflow raises the timeout", `, "flux": {"timeout": "2m"}`, job("job", 900, `"flux": {"timeout": "15m"},`), ""},
		{"cronjob", ``, job("cronjob", 3600, ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cluster := `{"name": "prod", "default": true` + tt.cluster + `}`
			c := newCompiler(t)
			_, err := c.Build(t.Context(), source.Files{"clusters/prod.json": []byte(cluster), "workflows/batch.json": []byte(tt.workflow)})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("build: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("build: %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestFluxAccount checks which account each workflow's Kustomization
// applies as: kustomize-controller's default, the cluster's one account,
// or, with tenancy, the workflow's own, rendered beside it with its
// RoleBinding in the workflow's namespace only.
func TestFluxAccount(t *testing.T) {
	t.Parallel()
	wf := `{"name": "web", "status": "published", "namespace": "team-a", "nodes": [
		{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`
	tests := []struct {
		name    string
		cluster string
		account string
		kinds   []string
	}{
		{"default", `{"name": "prod", "default": true}`, "", []string{"Kustomization"}},
		{"one account", `{"name": "prod", "default": true, "flux": {"serviceAccountName": "slipway-apply"}}`, "slipway-apply", []string{"Kustomization"}},
		{"tenancy", `{"name": "prod", "default": true, "flux": {"tenancy": true}}`, "slipway-workflow-web", []string{"Kustomization", "ServiceAccount", "RoleBinding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCompiler(t)
			res := build(t, c, source.Files{"clusters/prod.json": []byte(tt.cluster), "workflows/web.json": []byte(wf)})
			var kinds []string
			for _, doc := range strings.Split(string(res.Tree["clusters/prod/web.yaml"]), "\n---\n") {
				var o struct {
					Kind     string
					Metadata struct{ Name, Namespace string }
					Spec     struct{ ServiceAccountName string }
					RoleRef  struct{ Kind, Name string }
					Subjects []struct{ Kind, Name, Namespace string }
				}
				if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, o.Kind)
				switch o.Kind {
				case "Kustomization":
					if o.Spec.ServiceAccountName != tt.account {
						t.Errorf("spec.serviceAccountName %q, want %q", o.Spec.ServiceAccountName, tt.account)
					}
				case "ServiceAccount":
					if o.Metadata.Name != tt.account || o.Metadata.Namespace != DefaultFluxNamespace {
						t.Errorf("ServiceAccount %s/%s, want slipway/%s: Flux impersonates an account of the Kustomization's namespace", o.Metadata.Namespace, o.Metadata.Name, tt.account)
					}
				case "RoleBinding":
					want := []struct{ Kind, Name, Namespace string }{{"ServiceAccount", tt.account, DefaultFluxNamespace}}
					if o.Metadata.Namespace != "team-a" || o.RoleRef != (struct{ Kind, Name string }{"ClusterRole", "admin"}) || !cmp.Equal(o.Subjects, want) {
						t.Errorf("RoleBinding in %q binds %v to %v; want admin in team-a only, to slipway/%s", o.Metadata.Namespace, o.Subjects, o.RoleRef, tt.account)
					}
				}
			}
			if diff := cmp.Diff(tt.kinds, kinds); diff != "" {
				t.Errorf("objects of clusters/prod/web.yaml (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWorkflowSources checks the layout where each workflow reads a
// GitRepository of its own: rendered beside its Kustomization, named
// after it, reading the workflow's ref of the deploy branch, checking out
// and keeping only the workflow's tree, with no repository URL (the cluster's
// Kustomization adds it); and that no workflow may take the deploy
// branch's GitRepository's name, nor the option name a ref git refuses.
func TestWorkflowSources(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.WorkflowSources = "deploy"
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	wf := func(name string) []byte {
		return []byte(`{"name": "` + name + `", "status": "published", "nodes": [
		{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`)
	}
	t.Run("rendered", func(t *testing.T) {
		t.Parallel()
		res := build(t, c, source.Files{"workflows/web.json": wf("web")})
		type object struct {
			APIVersion string `json:"apiVersion"`
			Kind       string
			Metadata   struct{ Name, Namespace string }
			Spec       map[string]any
		}
		var objs []object
		for _, doc := range strings.Split(string(res.Tree["clusters/default/web.yaml"]), "\n---\n") {
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o)
		}
		if len(objs) != 2 || objs[0].Kind != "GitRepository" || objs[1].Kind != "Kustomization" {
			t.Fatalf("clusters/default/web.yaml holds %v; want the workflow's GitRepository, then its Kustomization", objs)
		}
		src, k := objs[0], objs[1]
		wantSpec := map[string]any{
			"interval":       "10m0s",
			"ref":            map[string]any{"name": "refs/slipway/sources/deploy/web"},
			"sparseCheckout": []any{"workflows/web"},
			"ignore":         "/*\n!/workflows/\n/workflows/*\n!/workflows/web/\n",
		}
		if src.APIVersion != "source.toolkit.fluxcd.io/v1" || src.Metadata.Name != "web" || src.Metadata.Namespace != DefaultFluxNamespace {
			t.Errorf("GitRepository %s %s/%s; want source.toolkit.fluxcd.io/v1 %s/web", src.APIVersion, src.Metadata.Namespace, src.Metadata.Name, DefaultFluxNamespace)
		}
		if diff := cmp.Diff(wantSpec, src.Spec); diff != "" {
			t.Errorf("GitRepository spec (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]any{"kind": "GitRepository", "name": "web"}, k.Spec["sourceRef"]); diff != "" {
			t.Errorf("Kustomization sourceRef (-want +got):\n%s", diff)
		}
	})
	t.Run("named like the deploy branch's source", func(t *testing.T) {
		t.Parallel()
		_, err := c.Build(t.Context(), source.Files{"workflows/slipway.json": wf("slipway")})
		want := `workflows/slipway.json: /name: "slipway" is the GitRepository of the deploy branch (--source-ref)`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("build: %v; want %q", err, want)
		}
	})
	t.Run("a branch git refuses", func(t *testing.T) {
		t.Parallel()
		bad := DefaultOptions()
		bad.WorkflowSources = "deploy..x"
		want := `workflow sources: deploy branch "deploy..x"`
		if _, err := New(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v; want %q", err, want)
		}
	})
}
