package watch

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FuzzCompute: whatever a cluster returns, judging it never panics and
// always gives a known health.
func FuzzCompute(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","generation":2},"status":{"observedGeneration":2,"conditions":[{"type":"Available","status":"False"}]}}`,
		`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"n"},"status":{"lastScheduleTime":"2026-11-29T02:00:00Z","active":[{}]}}`,
		`{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"status":{"conditions":[7,{"type":"AbleToScale"}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"selector":{"a":1}}}`,
		`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"k"},"spec":{"suspend":"yes"},"status":{"conditions":"no"}}`,
		`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"k","generation":2},"status":{"observedGeneration":1,"conditions":[{"type":"Stalled","status":"True"},{"type":"Ready","status":"False","reason":"DependencyNotReady","message":"dependency '"}]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(doc); err != nil {
			return
		}
		if r := Compute(u); !known(r.Health) {
			t.Fatalf("unknown health %q for %s", r.Health, doc)
		}
		FiguresOf(u, 0)
	})
}

// FuzzInventory: whatever a Kustomization's status.inventory holds, it
// reads without a panic, and every entry it keeps names an object.
func FuzzInventory(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","status":{"inventory":{"entries":[{"id":"shop_web_apps_Deployment","v":"v1"},{"id":"_tls_cert-manager.io_ClusterIssuer","v":"v1"}]}}}`,
		`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","status":{"inventory":{"entries":[{"id":"shop_web__Service"},{"id":"a_b_c"},{"id":7},"x"]}}}`,
		`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","status":{"inventory":{}}}`,
		`{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","status":{"inventory":{"entries":"no"}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(doc); err != nil {
			return
		}
		entries, _ := Inventory(u)
		for _, e := range entries {
			if e.Name == "" || e.Kind == "" {
				t.Fatalf("entry %+v without a name or kind from %s", e, doc)
			}
		}
	})
}

func known(h Health) bool {
	_, ok := rank[h]
	return ok
}
