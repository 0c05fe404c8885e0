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

	"go.yaml.in/yaml/v4"
)

// checkFiles checks compose files against the Compose Specification and
// checks that what their services refer to is defined, before compose-go
// loads them. Every problem is an *InputError with its file, line and
// column; they are returned all at once.
func checkFiles(files []string) error {
	var errs []error
	var docs []document
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		d, err := checkSource(f, data, &errs)
		if err != nil {
			return err
		}
		docs = append(docs, d...)
	}
	for _, e := range checkReferences(docs) {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// checkSource checks the YAML documents of one compose file against the
// specification, adds what it finds to errs and returns the documents. It
// fails only when the file is not YAML.
func checkSource(file string, data []byte, errs *[]error) ([]document, error) {
	var docs []document
	c := &checker{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
			continue
		}
		root := resolve(n.Content[0])
		for _, e := range append(c.checkKeys(root, where{at: root}), c.check(root, specRoot, where{at: root})...) {
			*errs = append(*errs, e)
		}
		docs = append(docs, document{c, root})
	}
}

// document is one YAML document of a compose file.
type document struct {
	c    *checker
	root *yaml.Node
}

// section returns the pairs of a top-level section of a document.
func (d document) section(name string) [][2]*yaml.Node {
	for _, p := range mappingPairs(d.root) {
		if v := resolve(p[1]); p[0].Value == name && v.Kind == yaml.MappingNode {
			return mappingPairs(v)
		}
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
// secrets and configs. Projects that include other files are left to
// compose-go, since the included files define names too.
func checkReferences(docs []document) []*InputError {
	defined := map[string]map[string]bool{"network": {"default": true}}
	for _, d := range docs {
		for _, p := range mappingPairs(d.root) {
			if p[0].Value == "include" {
				return nil
			}
		}
		for section, kind := range map[string]string{"services": "service", "volumes": "volume", "networks": "network", "secrets": "secret", "configs": "config"} {
			if defined[kind] == nil {
				defined[kind] = map[string]bool{}
			}
			for _, p := range d.section(section) {
				defined[kind][p[0].Value] = true
			}
		}
	}
	var errs []*InputError
	for _, d := range docs {
		for _, svc := range d.section("services") {
			w := where{path: "services." + svc[0].Value, at: svc[0]}
			for _, r := range serviceReferences(resolve(svc[1]), w) {
				if strings.Contains(r.name, "$") || defined[r.kind][r.name] {
					continue
				}
				names := slices.Sorted(maps.Keys(defined[r.kind]))
				errs = append(errs, d.c.errorf(r.w, "no %s %q is defined%s", r.kind, r.name, didYouMean(r.name, names)))
			}
		}
	}
	return errs
}

// serviceReferences lists the names a service refers to.
func serviceReferences(svc *yaml.Node, w where) []nameRef {
	if svc.Kind != yaml.MappingNode {
		return nil
	}
	var out []nameRef
	// names adds each name of a list (items, or their source) or mapping
	// (keys, unless skip says the entry is optional).
	names := func(kind string, v *yaml.Node, w where, source string, skip func(*yaml.Node) bool) {
		switch v = resolve(v); v.Kind {
		case yaml.SequenceNode:
			for i, item := range v.Content {
				item = resolve(item)
				if item.Kind == yaml.MappingNode {
					if s := child(item, source); s != nil {
						out = append(out, nameRef{kind, s.Value, w.index(i, item)})
					}
					continue
				}
				out = append(out, nameRef{kind, item.Value, w.index(i, item)})
			}
		case yaml.MappingNode:
			for _, p := range mappingPairs(v) {
				if skip == nil || !skip(resolve(p[1])) {
					out = append(out, nameRef{kind, p[0].Value, w.key(p[0].Value, p[0])})
				}
			}
		}
	}
	for _, p := range mappingPairs(svc) {
		kw := w.key(p[0].Value, p[0])
		v := resolve(p[1])
		switch p[0].Value {
		case "depends_on":
			names("service", v, kw, "", func(dep *yaml.Node) bool {
				r := child(dep, "required")
				return r != nil && r.Value == "false"
			})
		case "extends":
			switch {
			case v.Kind == yaml.ScalarNode:
				out = append(out, nameRef{"service", v.Value, kw})
			case child(v, "file") == nil && child(v, "service") != nil:
				out = append(out, nameRef{"service", child(v, "service").Value, kw.key("service", child(v, "service"))})
			}
		case "secrets":
			names("secret", v, kw, "source", nil)
		case "configs":
			names("config", v, kw, "source", nil)
		case "networks":
			names("network", v, kw, "", nil)
		case "volumes":
			out = append(out, volumeReferences(v, kw)...)
		}
	}
	return out
}

// volumeReferences lists the named volumes a service mounts.
func volumeReferences(v *yaml.Node, w where) []nameRef {
	if v.Kind != yaml.SequenceNode {
		return nil
	}
	var out []nameRef
	for i, item := range v.Content {
		item = resolve(item)
		var source string
		switch item.Kind {
		case yaml.ScalarNode:
			src, _, ok := strings.Cut(item.Value, ":")
			if !ok {
				continue // an anonymous volume
			}
			source = src
		case yaml.MappingNode:
			if t := child(item, "type"); t == nil || t.Value != "volume" {
				continue
			}
			if s := child(item, "source"); s != nil {
				source = s.Value
			}
		}
		if source == "" || !isNamedVolume(source) {
			continue // a bind mount
		}
		out = append(out, nameRef{"volume", source, w.index(i, item)})
	}
	return out
}

// isNamedVolume tells a volume name from a path: names may hold dots but
// never start with one or hold a slash.
func isNamedVolume(s string) bool {
	return !strings.HasPrefix(s, ".") && !strings.ContainsAny(s, `/\~`)
}

// child returns the value of key k of a mapping, or nil.
func child(m *yaml.Node, k string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for _, p := range mappingPairs(m) {
		if p[0].Value == k {
			return resolve(p[1])
		}
	}
	return nil
}
