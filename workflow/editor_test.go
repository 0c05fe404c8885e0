package workflow

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestEditorShapesWarn checks that the shapes KubeOrch's editor saves, and
// that work in KubeOrch, decode with exactly the located warnings given
// and no error. Node indexes of editor-shapes.json: 0 ingress shop, 1
// service web, 2 deployment web, 3 secret registry, 4 hpa web, 5
// deployment worker, 6 statefulset cache, 7 service cache, 8 cronjob
// cleanup, 9 networkpolicy web-ingress, 10 service legacy, 11 hpa legacy.
func TestEditorShapesWarn(t *testing.T) {
	t.Parallel()
	const file = "workflows/editor-shapes.json: "
	fixture := []string{
		file + `/nodes/0/data/paths/1/serviceName: names service "docs", which is not part of the workflow: the path routes to it, and Slipway does not render it (node "node-1")`,
		file + `/nodes/4/data/targetCPUUtilization: deployment "web" (node "node-3") requests no cpu; utilisation is measured against the request, so the autoscaler will not scale on it: set resources.requests.cpu (node "node-5")`,
		file + `/nodes/5/data/namespace: "default" differs from "shop", the namespace of node "node-1" that sets the workflow's; a workflow deploys into one namespace, so this deployment is rendered into "shop" (node "node-6")`,
		file + `/nodes/6/data/serviceName: names service "cache" (node "node-8"), which is not headless, so the 3 replicas get no DNS names of their own: set headless on it, or pick a name no service has and a headless one is rendered (node "node-7")`,
		file + `/nodes/9/data/podSelector: is not rendered: the policy applies to the pods of "web", which its edges link; remove podSelector, or the edges to select pods by it (node "node-10")`,
		file + `/nodes/10/data/targetApp: "legacy-app" names no workload of the workflow: the service selects the pods labelled app=legacy-app, which Slipway does not render (node "node-11")`,
		file + `/nodes/11/data/scaleTargetName: "legacy-app" names no deployment of the workflow: the hpa scales the Deployment of that name, which Slipway does not render (node "node-12")`,
	}
	without := func(drop ...int) []string {
		var out []string
		for i, w := range fixture {
			if !slices.Contains(drop, i) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		patches []testutil.Patch
		want    []string
	}{
		{name: "as saved", want: fixture},
		{
			name:    "nodes in two namespaces",
			patches: []testutil.Patch{testutil.Set("/nodes/5/data/namespace", "jobs")},
			want: append(without(2)[:2:2], append([]string{
				file + `/nodes/5/data/namespace: "jobs" differs from "shop", the namespace of node "node-1" that sets the workflow's; a workflow deploys into one namespace, so this deployment is rendered into "shop" (node "node-6")`,
			}, without(2)[2:]...)...),
		},
		{
			name:    "headless service for the replicas",
			patches: []testutil.Patch{testutil.Set("/nodes/7/data/headless", true)},
			want:    without(3),
		},
		{
			name:    "cpu requested",
			patches: []testutil.Patch{testutil.Set("/nodes/2/data/resources/requests/cpu", "100m")},
			want:    without(1),
		},
		{
			name:    "the editor's podSelector of the linked workload",
			patches: []testutil.Patch{testutil.Set("/nodes/9/data/podSelector", map[string]any{"app": "web"})},
			want:    without(4),
		},
		{
			name:    "external service with a selector",
			patches: []testutil.Patch{testutil.Set("/nodes/10/data/selector", map[string]any{"app.kubernetes.io/name": "legacy"})},
			want: append(without(5)[:5:5],
				file+`/nodes/10/data/targetApp: "legacy-app" names no workload of the workflow; the service selects what selector says (node "node-11")`,
				fixture[6]),
		},
		{
			name:    "statefulset scale target by kind",
			patches: []testutil.Patch{testutil.Set("/nodes/11/data/scaleTargetKind", "StatefulSet"), testutil.Set("/nodes/11/data/scaleTargetName", "cache")},
			want: append(without(6),
				file+`/nodes/11/data/targetCPUUtilization: statefulset "cache" (node "node-7") requests no cpu; utilisation is measured against the request, so the autoscaler will not scale on it: set resources.requests.cpu (node "node-12")`),
		},
		{
			name:    "scale target name of another kind",
			patches: []testutil.Patch{testutil.Set("/nodes/11/data/scaleTargetKind", "StatefulSet"), testutil.Set("/nodes/11/data/scaleTargetName", "web")},
			want: append(without(6),
				file+`/nodes/11/data/scaleTargetName: "web" names no statefulset of the workflow: the hpa scales the StatefulSet of that name, which Slipway does not render (node "node-12")`),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/editor-shapes.json"), tt.patches...)
			wf, err := Decode("workflows/editor-shapes.json", testutil.Marshal(t, doc))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			var got []string
			for _, w := range wf.Warnings {
				got = append(got, w.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEditorShapesResolve checks the values the editor's shapes resolve
// to: links typed by name, KubeOrch's mount path of a claim, the pull
// secret the canvas mounts, and a key of the environment Secret per
// workload.
func TestEditorShapesResolve(t *testing.T) {
	t.Parallel()
	wf, err := Decode("workflows/editor-shapes.json", kubeorchFile(t, "editor-shapes"))
	if err != nil {
		t.Fatal(err)
	}
	type link struct{ Kind, From, To, Field, Path string }
	var got []link
	for _, l := range wf.Validated().Links() {
		got = append(got, link{string(l.Kind), l.From.ID, l.To.ID, l.Field, l.PathID})
	}
	want := []link{
		{"pullSecret", "node-4", "node-3", "", ""},
		{"select", "node-8", "node-7", "", ""},
		{"policy", "node-10", "node-3", "", ""},
		{"route", "node-1", "node-2", "/nodes/0/data/paths/0/serviceName", "path-1733400000000-a1b2c3d4e"},
		{"select", "node-2", "node-3", "/nodes/1/data/targetApp", ""},
		{"scale", "node-5", "node-3", "/nodes/4/data/scaleTargetName", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if p := wf.NodeByID("node-7").Spec.(*StatefulSetData).VolumeClaimTemplates[0]; p.Path() != "/data/data" {
		t.Errorf("claim without mountPath mounts at %q, want KubeOrch's /data/data", p.Path())
	}
	if !slices.ContainsFunc(wf.Ignored, func(ig Ignored) bool { return ig.Pointer == "/nodes/2/data/volumeMounts/0" }) {
		t.Errorf("the canvas mount of the registry secret is not listed as ignored: %v", wf.Ignored)
	}
	for id, key := range map[string]string{"node-3": "web.DB_PASSWORD", "node-6": "worker.DB_PASSWORD"} {
		ref := wf.NodeByID(id).Spec.(*DeploymentData).EnvKeys[0].SecretKeyRef
		if ref == nil || ref.Name != "editor-shapes-env" || ref.Key != key {
			t.Errorf("node %s: DB_PASSWORD reads %+v, want key %q of editor-shapes-env", id, ref, key)
		}
	}
}

// TestClearedNamespace checks that a workflow whose nodes' namespaces were
// all cleared deploys into default, as KubeOrch does, while one whose
// nodes say nothing of a namespace keeps its own name.
func TestClearedNamespace(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		value any
		want  string
	}{
		{"empty", "", "default"},
		{"null", nil, "default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/workers.json")
			var patches []testutil.Patch
			for i := range doc.(map[string]any)["nodes"].([]any) {
				patches = append(patches, testutil.Set(pointer("/nodes", i, "data", "namespace"), tt.value))
			}
			wf, err := Decode("workflows/workers.json", testutil.Marshal(t, testutil.Apply(t, doc, patches...)))
			if err != nil {
				t.Fatal(err)
			}
			if got := wf.TargetNamespace(); got != tt.want {
				t.Errorf("namespace %q, want %q", got, tt.want)
			}
		})
	}
	doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/repo/workflows/shop.json"), testutil.Del("/namespace"))
	wf, err := Decode("workflows/shop.json", testutil.Marshal(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := wf.TargetNamespace(); got != "shop" {
		t.Errorf("a workflow without namespaces deploys into %q, want its name", got)
	}
}
