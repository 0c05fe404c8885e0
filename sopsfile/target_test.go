package sopsfile_test

import (
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/source"
)

// TestTargetOf: a secret node is found by id or by its Secret's name,
// with its keys, file and its cluster's age keys, and so is the
// workflow's environment Secret by its name, with the keys its workloads
// read; a node that is not a secret node, or a cluster without sops
// settings, is named in the error.
func TestTargetOf(t *testing.T) {
	t.Parallel()
	sops := map[string]any{"age": []any{recipient}, "keySecret": "sops-age"}
	for _, tc := range []struct {
		name, ref string
		sops      any
		want      string
	}{
		{"by id", "creds", sops, ""},
		{"by the Secret's name", "app-creds", sops, ""},
		{"no such node", "web", sops, `workflows/vault.json: no secret node has the id or name "web"`},
		{"no sops settings", "creds", nil, "clusters/default.json: no sops settings"},
		{"the environment Secret", "vault-env", sops, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var loader source.Loader
			r, err := loader.Load(t.Context(), repo(t, nil, tc.sops, nil))
			if err != nil || len(r.Workflows) != 1 {
				t.Fatalf("load: %v, %d workflows", err, len(r.Workflows))
			}
			got, err := sopsfile.TargetOf(r.Workflows[0], r.Clusters, tc.ref)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ref == "vault-env" {
				if got.NodeID != "" || got.Name != "vault-env" || got.File != "secrets/vault/vault-env.sops.yaml" || got.Type != "" ||
					strings.Join(got.Keys, ",") != "app.API_TOKEN" || strings.Join(got.Recipients, ",") != recipient {
					t.Errorf("target %+v", got)
				}
				return
			}
			if got.NodeID != "creds" || got.Name != "app-creds" || got.File != file || got.Cluster != "default" ||
				strings.Join(got.Keys, ",") != "password,username" || strings.Join(got.Recipients, ",") != recipient {
				t.Errorf("target %+v", got)
			}
		})
	}
}
