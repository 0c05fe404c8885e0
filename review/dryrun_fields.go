package review

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// serverMetadata are the metadata fields the API server sets on every
// write, which a dry-run changes without anyone changing them.
var serverMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}

// secretData are a Secret's fields that hold its values.
var secretData = []string{"data", "stringData"}

// liveChanges lists the fields of a live object that a dry-run changes:
// not the server-set metadata, the status, nor the fields Flux leaves to
// the cluster (JSON pointers, ignore); fields the API server defaults
// are the same on both sides and drop out. A Secret's values are
// compared by digest and never shown.
func liveChanges(live, dry map[string]any, ignore []string, secret bool) []FieldChange {
	changes := fieldChanges(comparable(live, ignore, secret), comparable(dry, ignore, secret))
	if secret {
		for i, c := range changes {
			if inSecretData(c.Path) {
				changes[i] = FieldChange{Path: c.Path, Masked: true, Old: masked(c.Old), New: masked(c.New)}
			}
		}
	}
	return changes
}

// comparable returns a copy of obj to compare.
func comparable(obj map[string]any, ignore []string, secret bool) map[string]any {
	o := runtime.DeepCopyJSON(obj)
	delete(o, "status")
	if md, ok := o["metadata"].(map[string]any); ok {
		for _, k := range serverMetadata {
			delete(md, k)
		}
	}
	for _, p := range ignore {
		removePointer(o, p)
	}
	if secret {
		for _, field := range secretData {
			values, _ := o[field].(map[string]any)
			digests := make(map[string]any, len(values))
			for k, v := range values {
				sum := sha256.Sum256(fmt.Append(nil, v))
				digests[k] = hex.EncodeToString(sum[:])
			}
			o[field] = digests
		}
	}
	return o
}

// inSecretData reports whether a field path is in a Secret's values.
func inSecretData(path string) bool {
	for _, field := range secretData {
		if path == field || strings.HasPrefix(path, field+".") || strings.HasPrefix(path, field+"[") {
			return true
		}
	}
	return false
}

// masked stands for a Secret's value: present or not, never what.
func masked(v any) any {
	if v == nil {
		return nil
	}
	return true
}

// removePointer removes the field at a JSON pointer (RFC 6901) from
// obj, if it is there: each token but the last names a map key or a
// list index, the last a map key.
func removePointer(obj map[string]any, pointer string) {
	if !strings.HasPrefix(pointer, "/") {
		return
	}
	tokens := strings.Split(pointer[1:], "/")
	var cur any = obj
	for i, t := range tokens {
		t = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
		switch v := cur.(type) {
		case map[string]any:
			if i == len(tokens)-1 {
				delete(v, t)
				return
			}
			cur = v[t]
		case []any:
			n, err := strconv.Atoi(t)
			if err != nil || n < 0 || n >= len(v) || i == len(tokens)-1 {
				return
			}
			cur = v[n]
		default:
			return
		}
	}
}
