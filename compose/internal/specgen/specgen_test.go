package specgen

import (
	"strings"
	"testing"
)

// TestGenerateRefuses holds the generator to refusing what it cannot
// check exactly.
func TestGenerateRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, schema, want string }{
		{"unknown keyword", `{"type": "object", "if": {}}`, "keyword if is not supported"},
		{"unknown pattern", `{"type": "string", "pattern": "^[0-9]+$"}`, `pattern "^[0-9]+$" has no matcher`},
		{"overlapping oneOf", `{"oneOf": [{"type": "integer"}, {"type": "number"}]}`, "two branches of oneOf accept integer"},
		{"schema additionalProperties", `{"type": "object", "additionalProperties": {"type": "string"}}`, "only true or false"},
		{"remote ref", `{"$ref": "https://example.com/s.json"}`, "is not a local definition"},
		{"not JSON", `{`, "specgen:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Generate([]byte(tc.schema))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestGenerateFlattens merges an allOf with unevaluatedProperties false
// into one closed object.
func TestGenerateFlattens(t *testing.T) {
	t.Parallel()
	src, err := Generate([]byte(`{"$defs": {"a": {"type": "object", "properties": {"x": {"type": "string"}}}},
		"allOf": [{"$ref": "#/$defs/a"}], "properties": {"y": {"type": "integer"}}, "unevaluatedProperties": false}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"x", `, `{"y", `, "closed: true"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("no %s in\n%s", want, src)
		}
	}
	if strings.Contains(string(src), "allOf") {
		t.Errorf("allOf left in\n%s", src)
	}
}
