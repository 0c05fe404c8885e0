package sopsfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/workflow"
)

const (
	file      = "secrets/vault/app-creds.sops.yaml"
	recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	enc       = "ENC[AES256_GCM,data:c2VjcmV0,iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFndGFn,type:str]"
	// secretValue stands for a value committed in plaintext.
	secretValue = "Hx7-pQ2-zR9"
)

// encrypted is an encrypted Secret manifest as secret set writes it,
// with its parts replaced as each case needs.
func encrypted(replace ...string) []byte {
	doc := `apiVersion: v1
kind: Secret
metadata:
    name: app-creds
data:
    password: ` + enc + `
    username: ` + enc + `
sops:
    age:
        - recipient: ` + recipient + `
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdl
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-12-06T03:00:00Z"
    mac: ` + enc + `
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
    version: 3.13.2
`
	return []byte(strings.NewReplacer(replace...).Replace(doc))
}

func TestParse(t *testing.T) {
	t.Parallel()
	s, err := sopsfile.Parse(file, encrypted())
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "app-creds" || s.Type != "" || strings.Join(s.Keys, ",") != "password,username" || len(s.Recipients) != 1 || s.Recipients[0] != recipient {
		t.Errorf("got %+v", s)
	}
}

// TestParseRefuses: each problem is a workflow.Error in the file, at
// the JSON pointer and line of the offending value, and a value in
// plaintext is never repeated.
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    []byte
		pointer string
		line    string // "line N," of the message; "" for none
		message string
	}{
		{"a data value in plaintext", encrypted("password: "+enc, "password: "+secretValue), "/data/password", "line 6,", "is not encrypted"},
		{"a stringData value in plaintext", encrypted("data:\n    password: "+enc, "stringData:\n    password: "+secretValue), "/stringData/password", "line 6,", "is not encrypted"},
		{"a value that only looks encrypted", encrypted("password: "+enc, "password: ENC["+secretValue+"]"), "/data/password", "line 6,", "is not encrypted"},
		{"a value that is not a string", encrypted("password: "+enc, "password: {value: "+secretValue+"}"), "/data/password", "line 6,", "is not encrypted"},
		{"no sops metadata", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-creds\ndata:\n  password: " + secretValue + "\n"), "/sops", "line 1,", "no sops metadata"},
		{"an encrypted name", encrypted("name: app-creds", "name: "+enc), "/metadata/name", "line 4,", "encrypt only data and stringData"},
		{"a MAC over the whole file", encrypted("mac_only_encrypted: true", "mac_only_encrypted: false"), "/sops/mac_only_encrypted", "", "must be true"},
		{"no MAC", encrypted("    mac: "+enc+"\n", ""), "/sops/mac", "", "must be the encrypted MAC"},
		{"no age recipient", encrypted("recipient: "+recipient, "arn: x"), "/sops/age", "", "no age recipient"},
		{"not a Secret", encrypted("kind: Secret", "kind: ConfigMap"), "/kind", "line 2,", "must be Secret"},
		{"no name", encrypted("    name: app-creds\n", "    labels: {}\n"), "/metadata/name", "", "is required"},
		{"two documents", append(encrypted(), []byte("---\nkind: Secret\n")...), "", "", "one YAML document"},
		{"not YAML", []byte("data: [" + secretValue), "", "", "is not YAML"},
		{"empty", nil, "", "", "is empty"},
		{"a list", []byte("- " + secretValue + "\n"), "", "line 1,", "YAML mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sopsfile.Parse(file, tt.data)
			if !errors.Is(err, workflow.ErrInvalid) {
				t.Fatalf("Parse: %v, want a workflow error", err)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("the error repeats the value: %v", err)
			}
			for _, e := range workflow.AsErrors(err) {
				if e.File == file && e.Pointer == tt.pointer && strings.Contains(e.Message, tt.message) && strings.HasPrefix(e.Message, tt.line) {
					return
				}
			}
			t.Errorf("no problem at %s %q: %q; got %v", tt.pointer, tt.line, tt.message, err)
		})
	}
}
