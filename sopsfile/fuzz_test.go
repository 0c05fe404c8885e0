package sopsfile_test

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/workflow"
)

// FuzzParse: Parse never panics, every problem it reports is located in
// the file, and a file it accepts has no value of data or stringData
// that is not encrypted, as another reading of the YAML sees it.
func FuzzParse(f *testing.F) {
	f.Add(encrypted())
	f.Add(encrypted("password: "+enc, "password: "+secretValue))
	f.Add(encrypted("data:\n    password: "+enc, "stringData:\n    password: "+secretValue))
	f.Add(encrypted("password: "+enc, "password: &a "+enc+"\n    other: *a"))
	f.Add([]byte("apiVersion: v1\nkind: Secret\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := sopsfile.Parse(file, data)
		if err != nil {
			if !errors.Is(err, workflow.ErrInvalid) {
				t.Fatalf("not a workflow error: %v", err)
			}
			for _, e := range workflow.AsErrors(err) {
				if e.File != file {
					t.Fatalf("a problem of another file: %v", e)
				}
			}
			return
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("accepted what does not decode: %v", err)
		}
		keys := 0
		for _, field := range []string{"data", "stringData"} {
			m, _ := doc[field].(map[string]any)
			for k, v := range m {
				keys++
				if str, ok := v.(string); !ok || !sopsfile.IsEncrypted(str) {
					t.Fatalf("accepted %s/%s, which is not encrypted", field, k)
				}
			}
		}
		if keys != len(s.Keys) {
			t.Fatalf("%d keys, Parse says %v", keys, s.Keys)
		}
	})
}
