package kubeorch

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// FuzzParse feeds Parse and Import any document: they never panic, every
// problem is located in the input, and every workflow file written is
// JSON with the workflow's name.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"shop-front.json", "shop-front-versions.json", "workflows.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"name": "x", "nodes": [{}], "versions": [{"version": 2, "nodes": []}]}, {"workflow_id": "", "version": 1, "nodes": null}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("f.json", data)
		if err != nil {
			return
		}
		res, err := Import(docs, Options{})
		if err != nil {
			return
		}
		for _, file := range res.Files {
			if len(file.Commits) == 0 {
				t.Fatalf("workflow %s has no commits", file.Name)
			}
			for _, c := range file.Commits {
				var h struct{ Name string }
				if err := json.Unmarshal(c.JSON, &h); err != nil || h.Name != file.Name {
					t.Fatalf("commit of %s: %v, name %q\n%s", file.Name, err, h.Name, c.JSON)
				}
			}
		}
	})
}

// FuzzParseAuthors feeds ParseAuthors any file: it never panics, and every
// author it reads is one git can write: a name and an email without <, >
// or a control character.
func FuzzParseAuthors(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(history, "authors.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("u1 = A <a@b>\nu1 = B <b@c>\n= <>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		authors, err := ParseAuthors("authors.txt", data)
		if err != nil {
			return
		}
		for id, a := range authors {
			if a.Name == "" || a.Email == "" || strings.ContainsAny(a.Name+a.Email, "<>") || strings.ContainsFunc(a.Name+a.Email, unicode.IsControl) {
				t.Fatalf("%s = %q: not an author git can write", id, a)
			}
		}
	})
}

// FuzzHandOverFields feeds HandOverFields any fields of KubeOrch and of
// Flux: it never panics, and what it hands over leaves KubeOrch no field
// of the object, keeps every field either owned, and is handed over for
// good (a second hand-over changes nothing).
func FuzzHandOverFields(f *testing.F) {
	var live struct {
		ManagedFields []metav1.ManagedFieldsEntry `json:"managedFields"`
	}
	b, err := os.ReadFile(filepath.Join("testdata", "handover", "deployment-web", "live.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(b, &live); err != nil {
		f.Fatal(err)
	}
	raw := map[string][]byte{}
	for _, m := range live.ManagedFields {
		raw[m.Manager] = m.FieldsV1.Raw
	}
	f.Add(raw[FieldManager], raw[FluxManager])
	f.Add([]byte(`{"f:spec":{"f:a":{}}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, kubeorch, flux []byte) {
		fields := []metav1.ManagedFieldsEntry{
			{Manager: FluxManager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: flux}},
			{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: kubeorch}},
			{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", FieldsType: "FieldsV1", Subresource: "scale", FieldsV1: &metav1.FieldsV1{Raw: kubeorch}},
		}
		got, ok, err := HandOverFields(fields)
		if err != nil {
			return
		}
		if !ok || len(got) != 2 {
			t.Fatalf("handed over %t: %+v", ok, got)
		}
		var merged *fieldpath.Set
		for _, m := range got {
			if m.Manager == FieldManager && m.Subresource == "" {
				t.Fatalf("%s still owns fields", m.Manager)
			}
			if m.Manager == FluxManager {
				merged = &fieldpath.Set{}
				if err := merged.FromJSON(bytes.NewReader(m.FieldsV1.Raw)); err != nil {
					t.Fatalf("the merged fields do not parse: %v\n%s", err, m.FieldsV1.Raw)
				}
			}
		}
		for _, in := range [][]byte{kubeorch, flux} {
			s := &fieldpath.Set{}
			if err := s.FromJSON(bytes.NewReader(in)); err != nil {
				t.Fatalf("handed over fields that do not parse: %v", err)
			}
			if !s.Difference(merged).Empty() {
				t.Fatalf("lost %s", s.Difference(merged))
			}
		}
		if _, again, err := HandOverFields(got); again || err != nil {
			t.Fatalf("a second hand-over: handed over %t, error %v", again, err)
		}
	})
}
