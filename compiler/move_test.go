package compiler

import (
	"strings"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/source"
)

// TestMoveReleasesOldKustomizations checks that while the Flux objects
// move (MoveFrom), each workflow's Kustomization is rendered in the new
// namespace as always and, in the old one, the same Kustomization
// suspended and with deletionPolicy Orphan; and that without MoveFrom the
// old one is gone, so that the cluster Kustomization prunes it.
func TestMoveReleasesOldKustomizations(t *testing.T) {
	t.Parallel()
	src := source.Files{"workflows/web.json": []byte(`{"name": "web", "status": "published", "namespace": "team-a", "nodes": [
		{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`)}
	kustomizations := func(t *testing.T, moveFrom string) []kustomizev1.Kustomization {
		t.Helper()
		opts := DefaultOptions()
		opts.MoveFrom = moveFrom
		c, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		res := build(t, c, src)
		var ks []kustomizev1.Kustomization
		for _, doc := range strings.Split(string(res.Tree["clusters/default/web.yaml"]), "\n---\n") {
			var k kustomizev1.Kustomization
			if err := yaml.Unmarshal([]byte(doc), &k); err != nil {
				t.Fatal(err)
			}
			ks = append(ks, k)
		}
		return ks
	}
	t.Run("moving", func(t *testing.T) {
		t.Parallel()
		ks := kustomizations(t, "flux-system")
		if len(ks) != 2 {
			t.Fatalf("%d Kustomizations, want the new and the released", len(ks))
		}
		now, old := ks[0], ks[1]
		if now.Namespace != DefaultFluxNamespace || now.Spec.Suspend || now.Spec.DeletionPolicy != "" {
			t.Errorf("new Kustomization %s/%s suspend=%v deletionPolicy=%q; want it in %s, applying", now.Namespace, now.Name, now.Spec.Suspend, now.Spec.DeletionPolicy, DefaultFluxNamespace)
		}
		if old.Namespace != "flux-system" || old.Name != "web" || !old.Spec.Suspend || old.Spec.DeletionPolicy != kustomizev1.DeletionPolicyOrphan {
			t.Errorf("old Kustomization %s/%s suspend=%v deletionPolicy=%q; want flux-system/web suspended, Orphan", old.Namespace, old.Name, old.Spec.Suspend, old.Spec.DeletionPolicy)
		}
		old.Namespace, old.Spec.Suspend, old.Spec.DeletionPolicy = now.Namespace, false, ""
		if diff := cmp.Diff(now, old); diff != "" {
			t.Errorf("the released Kustomization differs from the new one in more than namespace, suspend and deletionPolicy (-new +old):\n%s", diff)
		}
	})
	t.Run("moved", func(t *testing.T) {
		t.Parallel()
		if ks := kustomizations(t, ""); len(ks) != 1 || ks[0].Namespace != DefaultFluxNamespace {
			t.Errorf("Kustomizations %v; want web in %s only", ks, DefaultFluxNamespace)
		}
	})
}

// TestMoveFromValidated checks that the namespace to move from is a
// namespace, and not the one moved to.
func TestMoveFromValidated(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ from, want string }{
		{"Flux_System", `namespace to move from "Flux_System"`},
		{DefaultFluxNamespace, `namespace to move from "slipway" is the Flux namespace itself`},
	} {
		t.Run(tt.from, func(t *testing.T) {
			t.Parallel()
			opts := DefaultOptions()
			opts.MoveFrom = tt.from
			if err := opts.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: %v; want %q", err, tt.want)
			}
		})
	}
}

// TestFluxOwnNameOnlyInFluxNamespace checks that a workflow may be named
// like Flux's own Kustomization, flux-system, unless its Kustomization
// would take that name in Flux's own namespace.
func TestFluxOwnNameOnlyInFluxNamespace(t *testing.T) {
	t.Parallel()
	src := source.Files{"workflows/flux-system.json": []byte(`{"name": "flux-system", "status": "published", "namespace": "ops", "nodes": [
		{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "data": {"a": "b"}}}], "edges": []}`)}
	for _, tt := range []struct{ namespace, want string }{
		{DefaultFluxNamespace, ""},
		{"flux-system", `workflows/flux-system.json: /name: "flux-system" is reserved in flux-system, where --flux-namespace puts the workflows' Kustomizations: Flux's own Kustomization`},
	} {
		t.Run(tt.namespace, func(t *testing.T) {
			t.Parallel()
			opts := DefaultOptions()
			opts.SourceRefNamespace = tt.namespace
			c, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Build(t.Context(), src)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("build: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("build: %v; want %q", err, tt.want)
			}
		})
	}
}
