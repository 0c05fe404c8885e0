package review

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestFieldChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, a, b string
		want       []string
	}{
		{"scalar", "spec: {replicas: 1}", "spec: {replicas: 3}", []string{"spec.replicas: 1 → 3"}},
		{"added and removed fields", "spec: {a: x}", "spec: {b: {c: true}}", []string{`spec.a: "x" → (none)`, `spec.b: (none) → {"c":true}`}},
		{"quoted keys", "metadata: {labels: {app.kubernetes.io/name: a}}", "metadata: {labels: {app.kubernetes.io/name: b}}",
			[]string{`metadata.labels["app.kubernetes.io/name"]: "a" → "b"`}},
		{"named elements matched by name", "containers: [{name: api, image: a:1}, {name: web, image: w:1}]", "containers: [{name: web, image: w:2}, {name: api, image: a:1}]",
			[]string{`containers[name=web].image: "w:1" → "w:2"`}},
		{"named element added", "ports: [{name: http, port: 80}]", "ports: [{name: http, port: 80}, {name: metrics, port: 9090}]",
			[]string{`ports[name=metrics]: (none) → {"name":"metrics","port":9090}`}},
		{"unnamed elements by index", "args: [a, b]", "args: [a, c]", []string{`args[1]: "b" → "c"`}},
		{"list that grew, whole", "args: [a]", "args: [a, b]", []string{`args: ["a"] → ["a","b"]`}},
		{"duplicate names, by index", "e: [{name: x, v: 1}, {name: x, v: 2}]", "e: [{name: x, v: 1}, {name: x, v: 3}]", []string{"e[1].v: 2 → 3"}},
		{"type change", "data: {a: [1]}", "data: {a: {b: 1}}", []string{`data.a: [1] → {"b":1}`}},
		{"unchanged", "spec: {a: [1, {b: 2}]}", "spec: {a: [1, {b: 2}]}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, c := range fieldChanges(decode(t, tc.a), decode(t, tc.b)) {
				got = append(got, c.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("changes differ (-want +got):\n%s", diff)
			}
		})
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMarkdownObject(t *testing.T) {
	t.Parallel()
	id := ObjectID{Cluster: "prod", APIVersion: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "c"}
	for _, tc := range []struct {
		name string
		o    ObjectReview
		want string
	}{
		{"removed", ObjectReview{ObjectID: id, Change: Removed}, "- `prod ConfigMap shop/c` removed\n"},
		{"backticks in a value", ObjectReview{ObjectID: id, Change: Modified, Fields: []FieldChange{{Path: "data.cmd", Old: "a", New: "`b`"}}, Diff: "d\n"},
			"\n**`prod ConfigMap shop/c`** (modified)\n\n- ``data.cmd: \"a\" → \"`b`\"``\n\n<details><summary>diff</summary>\n\n```diff\nd\n```\n</details>\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := markdownObject(tc.o); got != tc.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

func TestMarkdownObjectBoundsFields(t *testing.T) {
	t.Parallel()
	o := ObjectReview{ObjectID: ObjectID{Cluster: "prod", Kind: "ConfigMap", Name: "c"}, Change: Modified, Diff: "d\n"}
	for i := range maxFieldLines + 3 {
		o.Fields = append(o.Fields, FieldChange{Path: fmt.Sprintf("data.k%02d", i), New: "x"})
	}
	got := markdownObject(o)
	want := fmt.Sprintf("- `data.k%02d: (none) → \"x\"`\n- …and 3 more fields\n\n<details>", maxFieldLines-1)
	if !strings.Contains(got, want) || strings.Contains(got, fmt.Sprintf("data.k%02d", maxFieldLines)) {
		t.Errorf("got:\n%s\nwant it to stop after %d fields with:\n%s", got, maxFieldLines, want)
	}
}
