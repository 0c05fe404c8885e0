package sopsfile_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// repo is a repository whose workflow vault has the secret node creds
// (app-creds: password, username) referencing file and the Deployment
// app, whose variable API_TOKEN is given by name only, on a cluster with
// sops settings for recipient, with its parts changed by the options (a nil value removes a field
// of creds' data or a file).
func repo(t *testing.T, secret map[string]any, sops any, files source.Files) source.Files {
	t.Helper()
	data := map[string]any{"name": "app-creds", "keys": []any{map[string]any{"name": "password"}, map[string]any{"name": "username"}}, "sopsFile": file}
	for k, v := range secret {
		if v == nil {
			delete(data, k)
			continue
		}
		data[k] = v
	}
	wf, err := json.Marshal(map[string]any{"name": "vault", "namespace": "vault", "status": "published", "nodes": []any{
		map[string]any{"id": "creds", "type": "secret", "position": map[string]any{"x": 0, "y": 0}, "data": data},
		map[string]any{"id": "app", "type": "deployment", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "app", "image": "nginx:1.27", "envKeys": []any{map[string]any{"id": "e1", "name": "API_TOKEN"}}}},
	}, "edges": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	cl := map[string]any{"name": "default", "default": true}
	if sops != nil {
		cl["sops"] = sops
	}
	cluster, err := json.Marshal(cl)
	if err != nil {
		t.Fatal(err)
	}
	out := source.Files{workflow.WorkflowFile("vault"): wf, workflow.ClusterFile("default"): cluster, file: encrypted()}
	for p, b := range files {
		if b == nil {
			delete(out, p)
			continue
		}
		out[p] = b
	}
	return out
}

// envFile is the environment Secret file of the workflow vault.
const envFile = "secrets/vault/vault-env.sops.yaml"

// envSecret is vault's environment Secret, with its parts replaced as
// each case needs; its keys are no variable's, which is no problem.
func envSecret(replace ...string) []byte {
	return encrypted(append([]string{"name: app-creds", "name: vault-env"}, replace...)...)
}

// TestCheck: a secret node and its encrypted file must agree, and Flux
// must be able to decrypt it; so must it the workflow's environment
// Secret; any file under secrets/ in plaintext is refused, referenced or
// not. Each problem is located.
func TestCheck(t *testing.T) {
	t.Parallel()
	sops := map[string]any{"age": []any{recipient}, "keySecret": "sops-age"}
	tests := []struct {
		name          string
		secret        map[string]any
		sops          any
		files         source.Files
		file, pointer string
		message       string
	}{
		{"valid", nil, sops, nil, "", "", ""},
		{"the file is missing", nil, sops, source.Files{file: nil}, "workflows/vault.json", "/nodes/0/data/sopsFile", "does not exist; write it with compiler secret set"},
		{"another path", map[string]any{"sopsFile": "secrets/vault/other.sops.yaml"}, sops, nil, "workflows/vault.json", "/nodes/0/data/sopsFile", `must be "secrets/vault/app-creds.sops.yaml"`},
		{"the cluster has no sops", nil, nil, nil, "workflows/vault.json", "/nodes/0/data/sopsFile", `cluster "default" has no sops settings`},
		{"another name in the file", nil, sops, source.Files{file: encrypted("name: app-creds", "name: other")}, "workflows/vault.json", "/nodes/0/data/name", `differs from the Secret's name "other"`},
		{"a key the file lacks", map[string]any{"keys": []any{map[string]any{"name": "password"}, map[string]any{"name": "username"}, map[string]any{"name": "token"}}}, sops, nil, "workflows/vault.json", "/nodes/0/data/keys", `does not hold the keys "token"`},
		{"a key the node lacks", map[string]any{"keys": []any{map[string]any{"name": "password"}}}, sops, nil, "workflows/vault.json", "/nodes/0/data/keys", `holds the keys "username", which the node does not list`},
		{"another type", map[string]any{"secretType": "kubernetes.io/basic-auth"}, sops, nil, "workflows/vault.json", "/nodes/0/data/secretType", `differs from the type "Opaque"`},
		{"encrypted for another key", nil, map[string]any{"age": []any{"age1" + strings.Repeat("q", 58)}, "keySecret": "sops-age"}, nil, "workflows/vault.json", "/nodes/0/data/sopsFile", "encrypted for none of the age keys"},
		{"plaintext in a file no node references", nil, sops, source.Files{"secrets/other/x.sops.yaml": encrypted("password: "+enc, "password: "+secretValue)}, "secrets/other/x.sops.yaml", "/data/password", "is not encrypted"},
		{"an environment Secret", nil, sops, source.Files{envFile: envSecret()}, "", "", ""},
		{"an environment Secret named otherwise", nil, sops, source.Files{envFile: encrypted()}, envFile, "/metadata/name", `"app-creds" must be "vault-env"`},
		{"an environment Secret of another type", nil, sops, source.Files{envFile: envSecret("\ndata:", "\ntype: kubernetes.io/tls\ndata:")}, envFile, "/type", "must be Opaque"},
		{"an environment Secret for another key", nil, map[string]any{"age": []any{"age1" + strings.Repeat("q", 58)}, "keySecret": "sops-age"}, source.Files{envFile: envSecret()}, envFile, "/sops/age", "encrypted for none of the age keys"},
		{"an environment Secret on a cluster without sops", map[string]any{"sopsFile": nil}, nil, source.Files{envFile: envSecret(), file: nil}, envFile, "/sops", `cluster "default" of workflows/vault.json has no sops settings`},
		{"an environment Secret in plaintext", nil, sops, source.Files{envFile: envSecret("password: "+enc, "password: "+secretValue)}, envFile, "/data/password", "is not encrypted"},
		{"the file of a secret node named like the environment Secret", map[string]any{"name": "vault-env", "sopsFile": envFile}, sops, source.Files{envFile: encrypted()}, "workflows/vault.json", "/nodes/0/data/name", `differs from the Secret's name "app-creds"`},
		{"bad cluster sops", nil, map[string]any{"age": []any{"ssh-ed25519 AAAA"}, "keySecret": ""}, nil, "clusters/default.json", "/sops/age/0", "is not an age public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var l source.Loader
			r, err := l.Load(t.Context(), repo(t, tt.secret, tt.sops, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			err = r.Err()
			if tt.message == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err != nil && strings.Contains(err.Error(), secretValue) {
				t.Errorf("the error repeats the value: %v", err)
			}
			for _, e := range workflow.AsErrors(err) {
				if e.File == tt.file && e.Pointer == tt.pointer && strings.Contains(e.Message, tt.message) {
					return
				}
			}
			t.Errorf("no problem %s %s %q; got %v", tt.file, tt.pointer, tt.message, err)
		})
	}
}
