package kubeorch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
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
