package watch

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestStrip: what is dropped before caching never changes an object's
// health or conditions, what must not be kept is gone, and what status
// reads (a Kustomization's inventory) is kept.
func TestStrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		gone [][]string
		kept [][]string
	}{
		{"deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2, managedFields: [{manager: kustomize-controller}]}
spec:
  replicas: 2
  template: {spec: {containers: [{name: web, image: nginx}]}}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions: [{type: Available, status: "True"}]`, [][]string{{"spec", "template"}, {"metadata", "managedFields"}}, nil},
		{"statefulset rolling out", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec:
  replicas: 3
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  template: {spec: {containers: [{name: db, image: postgres}]}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 1}`, [][]string{{"spec", "template"}}, nil},
		{"cronjob", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec: {schedule: "0 2 * * *", jobTemplate: {spec: {template: {spec: {containers: [{name: r, image: busybox}]}}}}}
status: {lastScheduleTime: "2026-12-01T02:00:00Z", lastSuccessfulTime: "2026-12-01T02:00:09Z"}`, [][]string{{"spec", "jobTemplate"}}, nil},
		{"flux kustomization", `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, generation: 1}
spec: {interval: 10m, path: ./workflows/web, prune: true}
status:
  observedGeneration: 1
  lastAppliedRevision: deploy@sha1:abc
  inventory: {entries: [{id: web_web_apps_Deployment, v: v1}]}
  conditions: [{type: Ready, status: "True", reason: ReconciliationSucceeded}]`, nil, [][]string{{"status", "inventory", "entries"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := object(t, tc.doc)
			want, wantConds := Compute(u), Conditions(u)
			got, err := strip(u.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			s := got.(*unstructured.Unstructured)
			if r := Compute(s); r != want {
				t.Errorf("health after strip %+v, before %+v", r, want)
			}
			if c := Conditions(s); len(c) != len(wantConds) {
				t.Errorf("conditions after strip %+v, before %+v", c, wantConds)
			}
			for _, path := range tc.gone {
				if _, found, _ := unstructured.NestedFieldNoCopy(s.Object, path...); found {
					t.Errorf("%v is still cached", path)
				}
			}
			for _, path := range tc.kept {
				if _, found, _ := unstructured.NestedFieldNoCopy(s.Object, path...); !found {
					t.Errorf("%v is not cached", path)
				}
			}
		})
	}
}
