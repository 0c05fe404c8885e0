package watch

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// InventoryEntry is one object a Flux Kustomization applied, from its
// status.inventory: the object and its API version.
type InventoryEntry struct {
	Ref
	Version string
}

// GroupVersionKind returns the entry's group, version and kind.
func (e InventoryEntry) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
}

// ParseInventoryID parses the id of an inventory entry as
// kustomize-controller writes it, "<namespace>_<name>_<group>_<kind>"
// (the namespace empty for a cluster-wide object, the group for the core
// one): none of the four may hold "_".
func ParseInventoryID(id string) (Ref, error) {
	parts := strings.Split(id, "_")
	if len(parts) != 4 || parts[1] == "" || parts[3] == "" {
		return Ref{}, fmt.Errorf("inventory id %q: want <namespace>_<name>_<group>_<kind>", id)
	}
	return Ref{Namespace: parts[0], Name: parts[1], Group: parts[2], Kind: parts[3]}, nil
}

// Inventory returns what a Flux Kustomization's status.inventory says it
// applied last, and whether it has an inventory at all (it has none
// before its first apply). Entries that do not parse are skipped: the
// inventory is kustomize-controller's, not ours to refuse.
func Inventory(k *unstructured.Unstructured) ([]InventoryEntry, bool) {
	if k == nil {
		return nil, false
	}
	list, found, err := unstructured.NestedSlice(k.Object, "status", "inventory", "entries")
	if err != nil {
		return nil, false
	}
	if !found {
		_, found, _ = unstructured.NestedMap(k.Object, "status", "inventory")
		return nil, found
	}
	out := make([]InventoryEntry, 0, len(list))
	for _, item := range list {
		m, _ := item.(map[string]any)
		id, _ := m["id"].(string)
		v, _ := m["v"].(string)
		ref, err := ParseInventoryID(id)
		if err != nil {
			continue
		}
		out = append(out, InventoryEntry{Ref: ref, Version: v})
	}
	return out, true
}
