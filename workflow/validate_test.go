package workflow

import (
	"strings"
	"testing"
)

// TestValidate checks Validate on workflows made in Go: their links are
// resolved as Decode resolves a file's, and nodes without fitting data
// are reported.
func TestValidate(t *testing.T) {
	t.Parallel()
	newWF := func(nodes ...Node) *Workflow {
		return &Workflow{Name: "shop", Status: StatusPublished, Nodes: nodes, Edges: []Edge{}}
	}
	web := Node{ID: "web", Type: KindDeployment, Spec: &DeploymentData{Meta: Meta{Name: "web"}, Container: Container{Image: "nginx:1.27"}}}
	for _, tc := range []struct {
		name string
		wf   *Workflow
		want string // "" for valid
	}{
		{"valid", newWF(web), ""},
		{"no data", newWF(Node{ID: "web", Type: KindDeployment}), "/nodes/0/data: is required"},
		{"data of another kind", newWF(Node{ID: "web", Type: KindService, Spec: web.Spec}), "/nodes/0/data: is a *workflow.DeploymentData, not the data of a service node"},
		{"unknown kind", newWF(Node{ID: "x", Type: "pod", Spec: web.Spec}), `/nodes/0/type: unknown node type "pod"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(WorkflowFile("shop"), tc.wf)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "" && tc.wf.Validated() == nil:
				t.Fatal("valid workflow has no Valid")
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			case tc.want != "" && tc.wf.Validated() != nil:
				t.Fatal("invalid workflow has a Valid")
			}
		})
	}
}

// TestResolveMounts checks that mount links take their path from the
// workload's volumeMounts entry, else from the linked node.
func TestResolveMounts(t *testing.T) {
	t.Parallel()
	wf := &Workflow{Name: "shop", Status: StatusPublished, Nodes: []Node{
		{ID: "web", Type: KindDeployment, Spec: &DeploymentData{Meta: Meta{Name: "web"}, Container: Container{Image: "nginx:1.27",
			VolumeMounts: []VolumeMount{{NodeID: "cfg", MountPath: "/srv/cfg", SubPath: "app.conf", ReadOnly: true}}}}},
		{ID: "cfg", Type: KindConfigMap, Spec: &ConfigMapData{Meta: Meta{Name: "cfg"}, Data: map[string]string{"app.conf": "x"}}},
		{ID: "data", Type: KindPersistentVolumeClaim, Spec: &PersistentVolumeClaimData{Meta: Meta{Name: "data"}, AccessModes: []string{"ReadWriteOnce"}, Storage: "1Gi"}},
	}, Edges: []Edge{{ID: "e1", Source: "cfg", Target: "web"}, {ID: "e2", Source: "data", Target: "web"}}}
	if err := Validate(WorkflowFile("shop"), wf); err != nil {
		t.Fatal(err)
	}
	got := map[string]Link{}
	for _, l := range wf.Validated().Links() {
		got[l.From.ID] = l
	}
	if l := got["cfg"]; l.MountPath != "/srv/cfg" || l.SubPath != "app.conf" || !l.ReadOnly {
		t.Errorf("configmap link = %+v, want the volumeMounts entry's path, subPath and readOnly", l)
	}
	if l := got["data"]; l.MountPath != DefaultVolumeMountPath {
		t.Errorf("volume link path = %q, want %q", l.MountPath, DefaultVolumeMountPath)
	}
}
