package watch

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// liveDeployment is a Deployment as the API server holds it after Flux
// applied it, `kubectl scale` scaled it, kube-controller-manager rolled it
// out and someone edited a sidecar the deploy tree does not have.
const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/managed-by: slipway
    kustomize.toolkit.fluxcd.io/name: web
  managedFields:
  - manager: kustomize-controller
    operation: Apply
    time: "2026-12-06T11:00:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:annotations: {f:slipway.dev/node-id: {}}}
      f:spec:
        f:template:
          f:spec:
            f:containers:
              'k:{"name":"web"}':
                .: {}
                f:name: {}
                f:ports:
                  'k:{"containerPort":8080,"protocol":"TCP"}': {.: {}, f:containerPort: {}}
  - manager: kubectl-scale
    operation: Update
    subresource: scale
    time: "2026-12-06T12:03:10Z"
    fieldsType: FieldsV1
    fieldsV1: {f:spec: {f:replicas: {}}}
  - manager: kube-controller-manager
    operation: Update
    time: "2026-12-06T12:03:11Z"
    fieldsType: FieldsV1
    fieldsV1: {f:metadata: {f:annotations: {.: {}, f:deployment.kubernetes.io/revision: {}}}}
  - manager: kube-controller-manager
    operation: Update
    subresource: status
    time: "2026-12-06T12:03:12Z"
    fieldsType: FieldsV1
    fieldsV1: {f:status: {f:replicas: {}, f:readyReplicas: {}}}
  - manager: kubectl-edit
    operation: Update
    time: "2026-12-06T12:05:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:template:
          f:spec:
            f:containers:
              'k:{"name":"web"}':
                f:image: {}
                f:ports:
                  'k:{"containerPort":8080,"protocol":"TCP"}': {f:name: {}}
              'k:{"name":"sidecar"}': {.: {}, f:image: {}, f:name: {}}
            f:tolerations: {}
`

// renderedDeployment is the Deployment as the deploy tree renders it.
const renderedDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {slipway.dev/node-id: web}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 8080
          name: http
`

func managers(u *unstructured.Unstructured) []string {
	var out []string
	for _, e := range u.GetManagedFields() {
		out = append(out, e.Manager+"/"+e.Subresource)
	}
	return out
}

func TestKeepForeignFields(t *testing.T) {
	t.Parallel()
	t.Run("of a Flux-applied object, other managers outside status are kept", func(t *testing.T) {
		t.Parallel()
		u := object(t, liveDeployment)
		keepForeignFields(u)
		want := []string{"kubectl-scale/scale", "kube-controller-manager/", "kubectl-edit/"}
		if got := managers(u); !slices.Equal(got, want) {
			t.Errorf("kept %v, want %v", got, want)
		}
	})
	t.Run("of an object Flux did not apply, nothing is kept", func(t *testing.T) {
		t.Parallel()
		u := object(t, liveDeployment)
		unstructured.RemoveNestedField(u.Object, "metadata", "labels", fluxOwnerLabel)
		keepForeignFields(u)
		if _, found := u.Object["metadata"].(map[string]any)["managedFields"]; found {
			t.Errorf("kept %v", managers(u))
		}
	})
}

// rendered serves one workflow's rendered objects by kind and name.
type rendered map[string]map[string]any

func (r rendered) Rendered(_ context.Context, _, _ string, ref Ref) (map[string]any, error) {
	return r[ref.Kind+"/"+ref.Name], nil
}

func TestFieldDrift(t *testing.T) {
	t.Parallel()
	live := object(t, liveDeployment)
	keepForeignFields(live)
	tree := object(t, renderedDeployment).Object
	// ignoreReplicas is a Kustomization whose Flux ignores the replicas of
	// the objects target selects.
	ignoreReplicas := func(target string) *unstructured.Unstructured {
		return object(t, `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web}
spec:
  ignore:
  - paths: [/spec/replicas]
    target: `+target+`
`)
	}
	hpaIgnore := ignoreReplicas("{group: apps, kind: Deployment, name: web}")
	otherIgnore := ignoreReplicas("{kind: Deployment, name: api}")
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	scaled := FieldChange{Field: "spec.replicas", Manager: "kubectl-scale", Time: at("2026-12-06T12:03:10Z")}
	edited := FieldChange{Field: "spec.template.spec.containers[name=web].image", Manager: "kubectl-edit", Time: at("2026-12-06T12:05:00Z")}
	port := FieldChange{Field: "spec.template.spec.containers[name=web].ports[containerPort=8080,protocol=TCP].name", Manager: "kubectl-edit", Time: at("2026-12-06T12:05:00Z")}
	for _, tc := range []struct {
		name  string
		tree  rendered
		k     *unstructured.Unstructured
		live  bool
		want  []FieldChange
		words []string
	}{
		{name: "fields the tree sets, set by another manager, are drift; the rest is not",
			tree: rendered{"Deployment/web": tree}, live: true, want: []FieldChange{scaled, edited, port},
			words: []string{"spec.replicas changed by kubectl-scale at 12:03", "spec.template.spec.containers[name=web].image changed by kubectl-edit at 12:05"}},
		{name: "replicas Flux leaves to an HPA are not drift",
			tree: rendered{"Deployment/web": tree}, k: hpaIgnore, live: true, want: []FieldChange{edited, port}},
		{name: "an ignore rule for another object changes nothing",
			tree: rendered{"Deployment/web": tree}, k: otherIgnore, live: true, want: []FieldChange{scaled, edited, port}},
		{name: "an object the tree does not hold has no field drift",
			tree: rendered{}, live: true},
		{name: "without a live revision nothing is compared", tree: rendered{"Deployment/web": tree}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := WorkflowStatus{Name: "web", Nodes: []Node{{ID: "web", Objects: []Object{{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web", Changes: foreignChanges(live)}}}}}
			if tc.live {
				ws.Sync.Live = &Revision{DeployCommit: "abc"}
			}
			NewFieldDrift(tc.tree).Apply(t.Context(), &ws, tc.k)
			got := ws.Nodes[0].Objects[0].Changes
			b, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(b) != string(w) {
				t.Errorf("changes\n %s\nwant\n %s", b, w)
			}
			for i, words := range tc.words {
				if got[i].String() != words {
					t.Errorf("change %d reads %q, want %q", i, got[i].String(), words)
				}
			}
		})
	}
}

func TestFieldDriftRemembers(t *testing.T) {
	t.Parallel()
	live := object(t, liveDeployment)
	keepForeignFields(live)
	r := &counting{rendered: rendered{"Deployment/web": object(t, renderedDeployment).Object}}
	f := NewFieldDrift(r)
	for range 3 {
		ws := WorkflowStatus{Name: "web", Sync: Sync{Live: &Revision{DeployCommit: "abc"}},
			Nodes: []Node{{Objects: []Object{{Group: "apps", Kind: "Deployment", Name: "web", Changes: foreignChanges(live)}}}}}
		f.Apply(t.Context(), &ws, nil)
		if n := len(ws.Nodes[0].Objects[0].Changes); n != 3 {
			t.Fatalf("%d changes, want 3", n)
		}
	}
	if r.reads != 1 {
		t.Errorf("the tree was read %d times for one deploy commit and the same fields, want once", r.reads)
	}
}

type counting struct {
	rendered
	reads int
}

func (c *counting) Rendered(ctx context.Context, commit, wf string, ref Ref) (map[string]any, error) {
	c.reads++
	return c.rendered.Rendered(ctx, commit, wf, ref)
}

func TestPointerPath(t *testing.T) {
	t.Parallel()
	for ptr, want := range map[string]string{
		"/spec/replicas":                           "spec.replicas",
		"/spec/template/spec/containers/0/image":   "spec.template.spec.containers[0].image",
		"/metadata/annotations/example.com~1owner": `metadata.annotations["example.com/owner"]`,
	} {
		t.Run(ptr, func(t *testing.T) {
			t.Parallel()
			if got := pointerPath(ptr); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// FuzzFieldsV1 reads managed fields of any shape: nothing panics, every
// leaf has a path, and an object that holds a leaf's path sets it.
func FuzzFieldsV1(f *testing.F) {
	f.Add([]byte(`{"f:spec":{"f:replicas":{}}}`))
	f.Add([]byte(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}}}`))
	f.Add([]byte(`{"f:metadata":{"f:finalizers":{"v:\"a\"":{}}},"f:x":{"i:0":{}}}`))
	f.Fuzz(func(t *testing.T, fields []byte) {
		var v map[string]any
		if json.Unmarshal(fields, &v) != nil {
			return
		}
		u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
			"labels":        map[string]any{fluxOwnerLabel: "x"},
			"managedFields": []any{map[string]any{"manager": "m", "fieldsV1": v}},
		}}}
		keepForeignFields(u)
		for _, c := range foreignChanges(u) {
			if c.Field == "" {
				t.Fatalf("a leaf without a path in %s", fields)
			}
			sets(u.Object, c.path)
		}
	})
}
