package compose

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/schema"
	"go.yaml.in/yaml/v4"

	"github.com/slipway-gitops/slipway/compose/internal/specgen"
)

// TestGoldenInputErrors holds the errors of invalid compose files: each
// names the file, line and column of the offending key, and suggests the
// closest valid name.
func TestGoldenInputErrors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid compose files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			_, err := Import(t.Context(), Options{Files: []string{file}})
			if err == nil {
				t.Fatal("imported an invalid file")
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("not an *InputError: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".txt", err.Error()+"\n")
		})
	}
}

// TestSpecGenerated fails when spec_gen.go is not what the generator
// makes from the schema of the compose-go in go.mod: run go generate
// ./compose after updating compose-go.
func TestSpecGenerated(t *testing.T) {
	t.Parallel()
	want, err := specgen.Generate([]byte(schema.Schema))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("spec_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("spec_gen.go is stale: run go generate ./compose")
	}
}

// TestPatternMatchers holds each matcher to the regular expression of
// the schema it stands for.
func TestPatternMatchers(t *testing.T) {
	t.Parallel()
	samples := []string{"", "x", "x-", "x-foo", "X-foo", "ax-", "web", "web_1.a-b", "web 1", "a/b", "-", ".",
		"a\nb", "\n", "\n\n", "abc", "aBc", "ab1", "a", "ab", "_a", "a_", "%a1", "always", "never", "build",
		"if_not_present", "missing", "refresh", "daily", "weekly", "every_", "every_1d", "every_12h30m", "every_d",
		"every_1x", "every_1d2", "always ", "Always", "é", "naïve"}
	for id, expr := range specPatterns {
		if id == int(patNone) {
			continue
		}
		re := regexp.MustCompile(expr)
		t.Run(expr, func(t *testing.T) {
			t.Parallel()
			for _, s := range samples {
				if got, want := patternID(id).matches(s), re.MatchString(s); got != want {
					t.Errorf("%q: matcher says %t, the expression %t", s, got, want)
				}
			}
		})
	}
	for expr, name := range specgen.Patterns {
		if !slices.Contains(specPatterns[:], expr) {
			t.Errorf("pattern %q (%s) has no matcher", expr, name)
		}
	}
}

// FuzzCheckAgreesWithSchema holds the generated check to compose-go's
// JSON Schema validation: on any YAML document without variables or
// compose tags, both accept it or both reject it.
func FuzzCheckAgreesWithSchema(f *testing.F) {
	for _, file := range composeFixtures(f) {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	invalid, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	for _, file := range invalid {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil || !plain(&n) {
			t.Skip("variables, tags, anchors and merge keys are resolved before compose-go validates")
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil || doc == nil || !jsonKeys(doc) {
			t.Skip("not a YAML mapping with string keys")
		}
		theirs := schema.Validate(doc)
		if nonTextKey(&n) {
			// compose-go's loader refuses other keys before its schema
			// sees them; decoding above dropped or converted them.
			theirs = errors.New("non-string key")
		}
		var errs []error
		if _, err := checkSource("compose.yaml", data, &errs); err != nil {
			t.Skip("more than one document")
		}
		if ours := errors.Join(errs...); (ours == nil) != (theirs == nil) {
			t.Fatalf("the check says %v; compose-go's schema says %v\n%s", ours, theirs, data)
		}
	})
}

// nonTextKey reports whether some mapping key in n is not a string.
func nonTextKey(n *yaml.Node) bool {
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.ShortTag() != "!!str" && c.ShortTag() != "!!merge" {
			return true
		}
		if nonTextKey(c) {
			return true
		}
	}
	return false
}

// jsonKeys reports whether every mapping in v has string keys, as JSON
// needs.
func jsonKeys(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if !jsonKeys(e) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !jsonKeys(e) {
				return false
			}
		}
	case map[any]any:
		return false
	}
	return true
}

// plain reports whether a YAML tree has no variables, aliases, anchors,
// merge keys or tags of its own.
func plain(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" || strings.Contains(n.Value, "$") || n.Tag == "!!merge" ||
		(n.Style&yaml.TaggedStyle != 0) {
		return false
	}
	for _, c := range n.Content {
		if !plain(c) {
			return false
		}
	}
	return true
}
