package watch

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestParseInventoryID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, id string
		want     Ref
		err      bool
	}{
		{"namespaced in a group", "shop_web_apps_Deployment", Ref{Namespace: "shop", Name: "web", Group: "apps", Kind: "Deployment"}, false},
		{"core group", "shop_web__Service", Ref{Namespace: "shop", Name: "web", Kind: "Service"}, false},
		{"cluster-wide", "_letsencrypt_cert-manager.io_ClusterIssuer", Ref{Name: "letsencrypt", Group: "cert-manager.io", Kind: "ClusterIssuer"}, false},
		{"too few parts", "shop_web_Deployment", Ref{}, true},
		{"too many parts", "shop_web_x_apps_Deployment", Ref{}, true},
		{"no name", "shop__apps_Deployment", Ref{}, true},
		{"no kind", "shop_web_apps_", Ref{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseInventoryID(tc.id)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ParseInventoryID(%q) = %+v, %v; want %+v, error %v", tc.id, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestPluginKind: only kinds of their own API group are watched as
// plugins; the core group (Secrets among it), RBAC's, the kinds watched
// anyway and Flux's own are not.
func TestPluginKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		gvk  schema.GroupVersionKind
		want bool
	}{
		{schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Service"}, true},
		{schema.GroupVersionKind{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster"}, true},
		{schema.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"}, true},
		{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, false},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, false},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, false},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}, false},
		{schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.gvk.String(), func(t *testing.T) {
			t.Parallel()
			if got := pluginKind(tc.gvk); got != tc.want {
				t.Errorf("pluginKind(%s) = %v, want %v", tc.gvk, got, tc.want)
			}
		})
	}
}
