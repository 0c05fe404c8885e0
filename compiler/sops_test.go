package compiler

import (
	"bytes"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/source"
)

// sopsAgeKey is the age public key of the tests' encrypted files; their
// private key is not needed: the compiler never decrypts.
const sopsAgeKey = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// sopsSecret returns an encrypted Secret api-keys as compiler secret set
// writes it, whose ciphertext of stripe is data.
func sopsSecret(data string) []byte {
	enc := func(d string) string {
		return "ENC[AES256_GCM,data:" + d + ",iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFndGFn,type:str]"
	}
	return []byte(`apiVersion: v1
kind: Secret
metadata:
    name: api-keys
type: Opaque
data:
    sendgrid: ` + enc("c2VuZGdyaWQ=") + `
    stripe: ` + enc(data) + `
sops:
    age:
        - recipient: ` + sopsAgeKey + `
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdl
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-12-06T03:00:00Z"
    mac: ` + enc("bWFj") + `
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
    version: 3.13.2
`)
}

// sopsFixture is the fixture repository with the secret node api-keys
// of shop referencing its encrypted file, and the cluster prod's sops
// settings.
func sopsFixture(t *testing.T) source.Files {
	t.Helper()
	src := fixtureSource(t)
	replace := func(p, old, new string) {
		t.Helper()
		if !bytes.Contains(src[p], []byte(old)) {
			t.Fatalf("%s lacks %q", p, old)
		}
		src[p] = bytes.Replace(src[p], []byte(old), []byte(new), 1)
	}
	replace("workflows/shop.json", `"name": "api-keys", "secretType": "Opaque",`, `"name": "api-keys", "secretType": "Opaque", "sopsFile": "secrets/shop/api-keys.sops.yaml",`)
	replace("clusters/prod.json", `"default": true,`, `"default": true, "sops": {"age": ["`+sopsAgeKey+`"], "keySecret": "sops-age"},`)
	src["secrets/shop/api-keys.sops.yaml"] = sopsSecret("c3RyaXBl")
	return src
}

// TestSopsSecret: the encrypted file of a secret node is the base's
// Secret, byte for byte; the workflow's Kustomization, and only its,
// decrypts with the cluster's key Secret; a new ciphertext renders the
// workflow again, though its file is unchanged, and rolls the pods that
// read the Secret.
func TestSopsSecret(t *testing.T) {
	t.Parallel()
	src := sopsFixture(t)
	c := newCompiler(t)
	first := build(t, c, src)
	const base = "workflows/shop/base/secret-api-keys.yaml"
	if got := first.Tree[base]; !bytes.Equal(got, src["secrets/shop/api-keys.sops.yaml"]) {
		t.Errorf("%s is not the encrypted file:\n%s", base, got)
	}
	const decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
	for p, b := range first.Tree {
		if strings.HasPrefix(p, "clusters/prod/") && strings.Contains(string(b), "kind: Kustomization") {
			if got, want := strings.Contains(string(b), decryption), p == "clusters/prod/shop.yaml"; got != want {
				t.Errorf("%s decrypts: %t, want %t:\n%s", p, got, want, b)
			}
		}
	}

	src["secrets/shop/api-keys.sops.yaml"] = sopsSecret("cm90YXRlZA==")
	next := build(t, c, src)
	if next.Rendered != 1 || !bytes.Equal(next.Tree[base], src["secrets/shop/api-keys.sops.yaml"]) {
		t.Errorf("after the ciphertext changed: rendered %d workflows, base Secret current: %t", next.Rendered, bytes.Equal(next.Tree[base], src["secrets/shop/api-keys.sops.yaml"]))
	}
	const api = "workflows/shop/base/deployment-api.yaml"
	if bytes.Equal(first.Tree[api], next.Tree[api]) {
		t.Errorf("%s is unchanged: its pods keep the old values", api)
	}
}
