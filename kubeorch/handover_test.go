package kubeorch_test

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/kubeorch"
)

// readManagedFields reads the managedFields of an object, as the API
// server returned them, from a file of testdata/handover.
func readManagedFields(t *testing.T, path string) []metav1.ManagedFieldsEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		ManagedFields []metav1.ManagedFieldsEntry `json:"managedFields"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return o.ManagedFields
}

// sameFields compares managedFields as the API server does: in no order,
// the fields as sets, however they are spelled.
var sameFields = []gocmp.Option{
	gocmp.Transformer("sorted", func(in []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
		out := slices.Clone(in)
		slices.SortFunc(out, func(a, b metav1.ManagedFieldsEntry) int {
			return cmp.Or(strings.Compare(a.Manager, b.Manager), strings.Compare(string(a.Operation), string(b.Operation)), strings.Compare(a.Subresource, b.Subresource))
		})
		return out
	}),
	gocmp.Transformer("fields", func(f *metav1.FieldsV1) any {
		var v any
		if f != nil {
			_ = json.Unmarshal(f.Raw, &v)
		}
		return v
	}),
}

// TestHandOverFields hands over the managedFields of objects as
// kube-apiserver wrote them (testdata/handover/<case>/live.json: KubeOrch's
// objects created as kubeorch-core; web applied by kustomize-controller
// too, as Flux does when connected before the hand-over; db scaled by
// KubeOrch through its scale subresource) and compares the result with
// the managedFields kube-apiserver stored once the hand-over patched them
// (handed.json). Handing over what was handed over changes nothing.
func TestHandOverFields(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"deployment-orders", "deployment-web", "statefulset-db", "cronjob-report"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", "handover", name)
			live := readManagedFields(t, filepath.Join(dir, "live.json"))
			want := readManagedFields(t, filepath.Join(dir, "handed.json"))
			got, ok, err := kubeorch.HandOverFields(live)
			if err != nil || !ok {
				t.Fatalf("handed over %t, error %v", ok, err)
			}
			if d := gocmp.Diff(want, got, sameFields...); d != "" {
				t.Errorf("differs from what kube-apiserver stored (-want +got):\n%s", d)
			}
			for _, f := range got {
				if f.Manager == kubeorch.FieldManager && f.Subresource == "" {
					t.Errorf("%s still owns fields of the object", f.Manager)
				}
			}
			again, ok, err := kubeorch.HandOverFields(want)
			if err != nil || ok {
				t.Errorf("a second hand-over: handed over %t, error %v", ok, err)
			}
			if d := gocmp.Diff(want, again); d != "" {
				t.Errorf("a second hand-over changed the fields (-want +got):\n%s", d)
			}
		})
	}
}

// TestHandOverFieldsRefuses checks that fields that cannot be merged as
// they are, are refused, naming their manager.
func TestHandOverFieldsRefuses(t *testing.T) {
	t.Parallel()
	live := readManagedFields(t, filepath.Join("testdata", "handover", "deployment-web", "live.json"))
	tests := []struct {
		name   string
		change func(f *metav1.ManagedFieldsEntry)
		want   string
	}{
		{"another API version", func(f *metav1.ManagedFieldsEntry) { f.APIVersion = "apps/v1beta2" },
			"kustomize-controller's fields in apps/v1 and kubeorch-core's in apps/v1beta2: fields of different API versions cannot be merged"},
		{"another type of fields", func(f *metav1.ManagedFieldsEntry) { f.FieldsType = "FieldsV2" },
			`kubeorch-core's fields are of type "FieldsV2", not FieldsV1`},
		{"fields that do not parse", func(f *metav1.ManagedFieldsEntry) { f.FieldsV1 = &metav1.FieldsV1{Raw: []byte(`{"f:spec": [`)} },
			"kubeorch-core's fields: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fields := slices.Clone(live)
			i := slices.IndexFunc(fields, func(f metav1.ManagedFieldsEntry) bool { return f.Manager == kubeorch.FieldManager })
			tt.change(&fields[i])
			_, ok, err := kubeorch.HandOverFields(fields)
			if err == nil || ok || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("handed over %t, error %v; want %q", ok, err, tt.want)
			}
		})
	}
}
