package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// yamlFile is a compose file parsed into YAML nodes: what the errors that
// name a line and column are found in.
type yamlFile struct {
	// file is the compose file as it was named.
	file string
	// docs are the roots of its YAML documents.
	docs []*yaml.Node
	// merged memoizes pairs. Merge keys (<<) that merge aliases of
	// mappings that merge aliases in turn would otherwise be expanded
	// once for every way to reach them: exponentially often.
	merged map[*yaml.Node][][2]*yaml.Node
}

// readSources reads and parses compose files. It fails only when a file
// cannot be read or is not YAML.
func readSources(files []string) ([]*yamlFile, error) {
	srcs := make([]*yamlFile, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		src, err := parseSource(f, data)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

// parseSource parses the YAML documents of one compose file.
func parseSource(file string, data []byte) (*yamlFile, error) {
	src := &yamlFile{file: file, merged: map[*yaml.Node][][2]*yaml.Node{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return src, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			src.docs = append(src.docs, resolve(n.Content[0]))
		}
	}
}

// where is the key or item a value sits at.
type where struct {
	path string
	at   *yaml.Node
}

func (w where) key(k string, at *yaml.Node) where {
	if w.path == "" {
		return where{k, at}
	}
	return where{w.path + "." + k, at}
}

func (w where) index(i int, at *yaml.Node) where {
	return where{fmt.Sprintf("%s[%d]", w.path, i), at}
}

func (src *yamlFile) errorf(w where, format string, args ...any) *InputError {
	path := w.path
	if path == "" {
		path = "(top level)"
	}
	return &InputError{File: src.file, Line: w.at.Line, Column: w.at.Column, Path: path, Message: fmt.Sprintf(format, args...)}
}

// checkKeys reports every mapping key of the file that is not text: a
// number, a boolean, null, a list or a mapping. compose-go refuses them
// all ("non-string key"), one at a time and without a line; YAML decoding
// into a map would drop a null key. Aliases are not followed: their
// anchors are checked where they stand.
func (src *yamlFile) checkKeys() []error {
	var errs []error
	var walk func(n *yaml.Node, w where)
	walk = func(n *yaml.Node, w where) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kw := w.key(k.Value, k)
				if kind := typeName(resolve(k)); kind != "a string" && !mergeKey(k) {
					errs = append(errs, src.errorf(kw, "key %q is %s; compose keys are text: put it in quotes", k.Value, kind))
					continue
				}
				walk(v, kw)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				walk(item, w.index(i, item))
			}
		}
	}
	for _, root := range src.docs {
		walk(root, where{at: root})
	}
	return errs
}

// pairs returns the key and value nodes of a mapping, with merge keys
// (<<) expanded; explicit keys win over merged ones, earlier merged
// sources over later ones. Each mapping is expanded once.
func (src *yamlFile) pairs(n *yaml.Node) [][2]*yaml.Node {
	if p, ok := src.merged[n]; ok {
		return p
	}
	src.merged[n] = nil // a mapping that merges itself adds nothing
	var own, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !mergeKey(k) {
			own = append(own, [2]*yaml.Node{k, v})
			continue
		}
		v = resolve(v)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			if s = resolve(s); s.Kind == yaml.MappingNode {
				merged = append(merged, src.pairs(s)...)
			}
		}
	}
	seen := make(map[string]bool, len(own))
	out := own
	for _, p := range own {
		seen[p[0].Value] = true
	}
	for _, m := range merged {
		if !seen[m[0].Value] {
			seen[m[0].Value] = true
			out = append(out, m)
		}
	}
	src.merged[n] = out
	return out
}

// child returns the value of key k of a mapping, or nil.
func (src *yamlFile) child(m *yaml.Node, k string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for _, p := range src.pairs(m) {
		if p[0].Value == k {
			return resolve(p[1])
		}
	}
	return nil
}

// section returns the pairs of a top-level section of a document.
func (src *yamlFile) section(root *yaml.Node, name string) [][2]*yaml.Node {
	if v := src.child(root, name); v != nil && v.Kind == yaml.MappingNode {
		return src.pairs(v)
	}
	return nil
}

// nameRef is a name a service uses, and the kind of thing it names.
type nameRef struct {
	kind, name string
	w          where
}

// checkReferences reports what services refer to that no document
// defines: services in depends_on and extends, volumes, networks,
// secrets and configs, with the closest defined name. compose-go checks
// them too, but one at a time, without a place or a suggestion. Projects
// that include other files are left to compose-go, since the included
// files define names too.
func checkReferences(srcs []*yamlFile) []error {
	defined := map[string]map[string]bool{"network": {"default": true}}
	for _, src := range srcs {
		for _, root := range src.docs {
			if src.child(root, "include") != nil {
				return nil
			}
			for section, kind := range map[string]string{"services": "service", "volumes": "volume", "networks": "network", "secrets": "secret", "configs": "config"} {
				if defined[kind] == nil {
					defined[kind] = map[string]bool{}
				}
				for _, p := range src.section(root, section) {
					defined[kind][p[0].Value] = true
				}
			}
		}
	}
	var errs []error
	for _, src := range srcs {
		for _, root := range src.docs {
			for _, svc := range src.section(root, "services") {
				w := where{path: "services." + svc[0].Value, at: svc[0]}
				for _, r := range src.serviceReferences(resolve(svc[1]), w) {
					if strings.Contains(r.name, "$") || defined[r.kind][r.name] {
						continue
					}
					names := slices.Sorted(maps.Keys(defined[r.kind]))
					errs = append(errs, src.errorf(r.w, "no %s %q is defined%s", r.kind, r.name, didYouMean(r.name, names)))
				}
			}
		}
	}
	return errs
}

// serviceReferences lists the names a service refers to.
func (src *yamlFile) serviceReferences(svc *yaml.Node, w where) []nameRef {
	if svc.Kind != yaml.MappingNode {
		return nil
	}
	var out []nameRef
	// names adds each name of a list (items, or their source) or mapping
	// (keys, unless skip says the entry is optional).
	names := func(kind string, v *yaml.Node, w where, source string, skip func(*yaml.Node) bool) {
		switch v.Kind {
		case yaml.SequenceNode:
			for i, item := range v.Content {
				item = resolve(item)
				if item.Kind == yaml.MappingNode {
					if s := src.child(item, source); s != nil {
						out = append(out, nameRef{kind, s.Value, w.index(i, item)})
					}
					continue
				}
				out = append(out, nameRef{kind, item.Value, w.index(i, item)})
			}
		case yaml.MappingNode:
			for _, p := range src.pairs(v) {
				if skip == nil || !skip(resolve(p[1])) {
					out = append(out, nameRef{kind, p[0].Value, w.key(p[0].Value, p[0])})
				}
			}
		}
	}
	for _, p := range src.pairs(svc) {
		kw := w.key(p[0].Value, p[0])
		v := resolve(p[1])
		switch p[0].Value {
		case "depends_on":
			names("service", v, kw, "", func(dep *yaml.Node) bool {
				r := src.child(dep, "required")
				return r != nil && r.Value == "false"
			})
		case "extends":
			switch {
			case v.Kind == yaml.ScalarNode:
				out = append(out, nameRef{"service", v.Value, kw})
			case src.child(v, "file") == nil && src.child(v, "service") != nil:
				s := src.child(v, "service")
				out = append(out, nameRef{"service", s.Value, kw.key("service", s)})
			}
		case "secrets":
			names("secret", v, kw, "source", nil)
		case "configs":
			names("config", v, kw, "source", nil)
		case "networks":
			names("network", v, kw, "", nil)
		case "volumes":
			out = append(out, src.volumeReferences(v, kw)...)
		}
	}
	return out
}

// volumeReferences lists the named volumes a service mounts. The short
// syntax is read with compose-go's own parser, which tells a Windows
// path (C:\data:/data) from a volume name.
func (src *yamlFile) volumeReferences(v *yaml.Node, w where) []nameRef {
	if v.Kind != yaml.SequenceNode {
		return nil
	}
	var out []nameRef
	for i, item := range v.Content {
		item = resolve(item)
		var source string
		switch item.Kind {
		case yaml.ScalarNode:
			vol, err := format.ParseVolume(item.Value)
			if err != nil || vol.Type != types.VolumeTypeVolume {
				continue // compose-go reports what it cannot parse
			}
			source = vol.Source
		case yaml.MappingNode:
			if t := src.child(item, "type"); t == nil || t.Value != types.VolumeTypeVolume {
				continue
			}
			if s := src.child(item, "source"); s != nil {
				source = s.Value
			}
		}
		if source == "" {
			continue // an anonymous volume
		}
		out = append(out, nameRef{"volume", source, w.index(i, item)})
	}
	return out
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// mergeKey reports whether k is a merge key (<<).
func mergeKey(k *yaml.Node) bool {
	return k.Tag == "!!merge" || (k.Value == "<<" && k.Style == 0)
}

// interpolated reports whether a scalar holds a variable that compose
// replaces before it reads the value: its type is known only then.
func interpolated(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$")
}

// typeName names the JSON type of a YAML value, with its article.
func typeName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	tag := n.Tag
	if tag == "" || !strings.HasPrefix(tag, "!!") {
		// Untagged, or a compose tag like !override: resolve by value.
		plain := *n
		plain.Tag = ""
		tag = plain.ShortTag()
	}
	switch tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	}
	return "a string"
}
