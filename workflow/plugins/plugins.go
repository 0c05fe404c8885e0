// Package plugins is the catalog of plugin node types: custom resources a
// workflow's plugin node renders by naming a node type (its templateId)
// instead of spelling out apiVersion, kind and fields.
//
// The built-in catalog holds the node types of KubeOrch's built-in
// plugins, with the API version and kind KubeOrch renders for each (the
// plugin's API group at v1, the kind its node type name matches). A field
// maps to spec.<id> (dots nest); name and namespace go to the metadata. A
// workflows repository may add plugins, or replace built-in ones by id, in
// plugins/<id>.json files of the same form as one catalog entry.
package plugins

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

//go:embed kubeorch.json
var kubeorchJSON []byte

// Catalog is a set of plugins.
type Catalog struct {
	Plugins []Plugin `json:"plugins"`
}

// Plugin is a group of custom resource kinds an operator provides.
type Plugin struct {
	// ID names the plugin (a node's pluginId).
	ID string `json:"id"`
	// Group is the API group of the plugin's kinds.
	Group string `json:"group"`
	// Kinds are the kinds of the group.
	Kinds []string `json:"kinds,omitempty"`
	// NodeTypes are the nodes the plugin offers.
	NodeTypes []NodeType `json:"nodeTypes"`
}

// NodeType is one kind of node a plugin offers.
type NodeType struct {
	// TemplateID names the node type (a node's templateId).
	TemplateID string `json:"templateId"`
	// APIVersion and Kind are those of the object the node renders.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Fields are the node's fields; each maps to spec.<id>.
	Fields []Field `json:"fields"`
}

// Field is one field of a node type.
type Field struct {
	ID string `json:"id"`
	// Type is text, number, select, boolean, list or object.
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Default  any      `json:"default,omitempty"`
	Options  []string `json:"options,omitempty"`
}

var builtIn = sync.OnceValue(func() *Catalog {
	var c Catalog
	if err := json.Unmarshal(kubeorchJSON, &c); err != nil {
		panic(fmt.Sprintf("plugins: the built-in catalog is invalid: %v", err))
	}
	return &c
})

// BuiltIn returns the built-in catalog. It must not be modified.
func BuiltIn() *Catalog { return builtIn() }

// NodeType finds a node type by its template id and, when pluginID is not
// empty, its plugin's id.
func (c *Catalog) NodeType(pluginID, templateID string) (*NodeType, bool) {
	for i := range c.Plugins {
		p := &c.Plugins[i]
		if pluginID != "" && p.ID != pluginID {
			continue
		}
		for j := range p.NodeTypes {
			if p.NodeTypes[j].TemplateID == templateID {
				return &p.NodeTypes[j], true
			}
		}
	}
	return nil, false
}

// With returns a catalog of c's plugins and extra; a plugin of extra
// replaces the plugin of c with its id.
func (c *Catalog) With(extra ...Plugin) *Catalog {
	out := &Catalog{}
	replaced := map[string]bool{}
	for _, p := range extra {
		replaced[p.ID] = true
	}
	for _, p := range c.Plugins {
		if !replaced[p.ID] {
			out.Plugins = append(out.Plugins, p)
		}
	}
	out.Plugins = append(out.Plugins, extra...)
	return out
}

// Parse reads one plugin definition, as a repository's plugins/<id>.json
// holds it. Unknown fields are errors.
func Parse(data []byte) (Plugin, error) {
	var p Plugin
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Plugin{}, fmt.Errorf("plugin definition: %w", err)
	}
	if p.ID == "" {
		return Plugin{}, fmt.Errorf("plugin definition: id is required")
	}
	for i, n := range p.NodeTypes {
		if n.TemplateID == "" || n.APIVersion == "" || n.Kind == "" {
			return Plugin{}, fmt.Errorf("plugin definition: nodeTypes[%d] needs templateId, apiVersion and kind", i)
		}
	}
	return p, nil
}
