package review

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"sync"
)

// FieldChange is one changed field of an object, at a path as kubectl
// and Kubernetes' documentation write it: spec.replicas,
// metadata.labels["app.kubernetes.io/name"],
// spec.template.spec.containers[name=api].image, spec.ports[0].port.
type FieldChange struct {
	Path string `json:"path"`
	// Old and New are absent for an added and a removed field.
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
	// Masked is set on a change to a Secret's value, which is never
	// shown: Old and New are then true when the value is there.
	Masked bool `json:"masked,omitempty"`
}

// String describes the change: "spec.replicas: 1 → 3", or, masked,
// "data.password changed".
func (c FieldChange) String() string {
	if c.Masked {
		switch {
		case c.Old == nil:
			return c.Path + " added"
		case c.New == nil:
			return c.Path + " removed"
		}
		return c.Path + " changed"
	}
	return fmt.Sprintf("%s: %s → %s", c.Path, value(c.Old), value(c.New))
}

// fieldChanges compares two objects field by field. Maps are compared key
// by key; lists of maps that each have a distinct name are matched by
// name, other lists of the same length element by element, and lists
// whose length changed as a whole.
func fieldChanges(a, b map[string]any) []FieldChange {
	var out []FieldChange
	diffFields(&out, "", a, b)
	return out
}

func diffFields(out *[]FieldChange, p string, a, b any) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			keys := make(map[string]bool, len(av)+len(bv))
			for k := range av {
				keys[k] = true
			}
			for k := range bv {
				keys[k] = true
			}
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				x, inA := av[k]
				y, inB := bv[k]
				diffMember(out, keyPath(p, k), x, inA, y, inB)
			}
			return
		}
	case []any:
		if bv, ok := b.([]any); ok {
			if an, bn := names(av), names(bv); an != nil && bn != nil {
				diffNamed(out, p, av, bv, an, bn)
				return
			}
			if len(av) == len(bv) {
				for i := range av {
					diffFields(out, p+"["+strconv.Itoa(i)+"]", av[i], bv[i])
				}
				return
			}
		}
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, FieldChange{Path: p, Old: a, New: b})
	}
}

// diffNamed compares two lists whose elements are named.
func diffNamed(out *[]FieldChange, p string, a, b []any, an, bn []string) {
	index := func(names []string) map[string]int {
		m := make(map[string]int, len(names))
		for i, n := range names {
			m[n] = i
		}
		return m
	}
	ai, bi := index(an), index(bn)
	all := slices.Clone(an)
	for _, n := range bn {
		if _, ok := ai[n]; !ok {
			all = append(all, n)
		}
	}
	for _, n := range all {
		i, inA := ai[n]
		j, inB := bi[n]
		var x, y any
		if inA {
			x = a[i]
		}
		if inB {
			y = b[j]
		}
		diffMember(out, p+"[name="+n+"]", x, inA, y, inB)
	}
}

// diffMember compares a member of a map or a named list that may be
// missing on either side.
func diffMember(out *[]FieldChange, p string, x any, inA bool, y any, inB bool) {
	switch {
	case !inA:
		*out = append(*out, FieldChange{Path: p, New: y})
	case !inB:
		*out = append(*out, FieldChange{Path: p, Old: x})
	default:
		diffFields(out, p, x, y)
	}
}

// names returns the names of a list's elements when every element is a
// map with a distinct string name, as containers, ports and volumes are.
func names(list []any) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	seen := make(map[string]bool, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil
		}
		n, ok := m["name"].(string)
		if !ok || seen[n] || !plainName().MatchString(n) {
			return nil
		}
		seen[n] = true
		out[i] = n
	}
	return out
}

// plainName matches a key that needs no quotes in a path. It compiles on
// first use, not when a program that links the package starts.
var plainName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// keyPath appends a map key to a path; keys with other characters than
// letters, digits, "_" and "-" are quoted.
func keyPath(p, k string) string {
	if !plainName().MatchString(k) {
		return p + "[" + strconv.Quote(k) + "]"
	}
	if p == "" {
		return k
	}
	return p + "." + k
}
