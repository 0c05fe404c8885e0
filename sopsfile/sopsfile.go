// Package sopsfile reads the SOPS-encrypted Secret manifests of a
// workflows repository (workflow.SopsFile) without decrypting them: it
// checks that every value of a Secret's data and stringData is
// encrypted, so that a file committed in plaintext is refused at compile
// time, and tells the Secret's name and key names, which the secret node
// that references the file must agree with. Errors name the file, the
// JSON pointer and the line and column of the offending value, and never
// repeat a value.
package sopsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"

	"github.com/slipway-gitops/slipway/workflow"
)

// Secret is what an encrypted Secret manifest tells without its key:
// the Secret's name and type, its key names and the age public keys its
// values are encrypted for.
type Secret struct {
	Name string
	// Type is the Secret's type; empty for Opaque.
	Type string
	// Keys are the key names of data and stringData, sorted.
	Keys []string
	// Recipients are the age public keys of the file's sops metadata.
	Recipients []string
}

// encryptedValue matches a value SOPS encrypted with AES-GCM:
// ENC[AES256_GCM,data:…,iv:…,tag:…,type:…].
var encryptedValue = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^ENC\[AES256_GCM,data:[A-Za-z0-9+/]*={0,2},iv:[A-Za-z0-9+/]+={0,2},tag:[A-Za-z0-9+/]+={0,2},type:[a-z]+\]$`)
})

// IsEncrypted reports whether a value is one SOPS encrypted.
func IsEncrypted(value string) bool { return encryptedValue().MatchString(value) }

// reader collects the problems of one file.
type reader struct {
	file string
	errs workflow.Errors
}

func (r *reader) add(ptr string, n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n != nil {
		msg = fmt.Sprintf("line %d, column %d: %s", n.Line, n.Column, msg)
	}
	r.errs = append(r.errs, &workflow.Error{File: r.file, Pointer: ptr, Message: msg})
}

// Parse reads data, the content of the encrypted Secret manifest at
// path file: one YAML document, a v1 Secret whose data and stringData
// values are all encrypted by SOPS (ENC[AES256_GCM,…]), with sops
// metadata that has a MAC, age recipients and mac_only_encrypted (the
// namespace kustomize sets would otherwise break the MAC). Any problem
// is a workflow.Error located in file; an unencrypted value is never
// repeated.
func Parse(file string, data []byte) (*Secret, error) {
	r := &reader{file: file}
	root, err := document(data)
	if err != nil {
		r.add("", nil, "%v", err)
		return nil, r.errs
	}
	if root.Kind != yaml.MappingNode {
		r.add("", root, "must be a Kubernetes Secret manifest, a YAML mapping")
		return nil, r.errs
	}
	top := fields(root)
	s := &Secret{}
	r.plain(top, "apiVersion", root, func(v string) string {
		if v != "v1" {
			return "must be v1"
		}
		return ""
	})
	r.plain(top, "kind", root, func(v string) string {
		if v != "Secret" {
			return "must be Secret"
		}
		return ""
	})
	if meta, ok := top["metadata"]; ok && meta.Kind == yaml.MappingNode {
		s.Name = r.plain(fields(meta), "metadata/name", meta, nil)
	} else {
		r.add("/metadata", root, "is required and must hold the Secret's name")
	}
	if t, ok := top["type"]; ok {
		s.Type = r.plain(top, "type", t, nil)
	}
	for _, field := range []string{"data", "stringData"} {
		n, ok := top[field]
		if !ok {
			continue
		}
		if n.Kind != yaml.MappingNode {
			r.add("/"+field, n, "must be a mapping of key names to encrypted values")
			continue
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ptr := "/" + field + "/" + escape(k.Value)
			if slices.Contains(s.Keys, k.Value) {
				r.add(ptr, k, "the key %q is in both data and stringData", k.Value)
			}
			s.Keys = append(s.Keys, k.Value)
			if v.Kind != yaml.ScalarNode || !IsEncrypted(v.Value) {
				r.add(ptr, v, "is not encrypted: every value of data and stringData must be ENC[AES256_GCM,…] as SOPS writes it; set it with compiler secret set, and remove the plaintext from the repository's history")
			}
		}
	}
	slices.Sort(s.Keys)
	s.Recipients = r.metadata(top, root)
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return s, nil
}

// metadata checks the sops metadata of the top-level mapping and returns
// its age recipients.
func (r *reader) metadata(top map[string]*yaml.Node, root *yaml.Node) []string {
	m, ok := top["sops"]
	if !ok || m.Kind != yaml.MappingNode {
		r.add("/sops", root, "no sops metadata: the file is not encrypted; encrypt it with compiler secret set")
		return nil
	}
	meta := fields(m)
	if mac, ok := meta["mac"]; !ok || mac.Kind != yaml.ScalarNode || !IsEncrypted(mac.Value) {
		r.add("/sops/mac", m, "must be the encrypted MAC SOPS writes")
	}
	if v, ok := meta["mac_only_encrypted"]; !ok || v.Value != "true" {
		r.add("/sops/mac_only_encrypted", m, "must be true (sops --mac-only-encrypted): the namespace kustomize sets would otherwise fail the MAC in Flux")
	}
	var recipients []string
	if ages, ok := meta["age"]; ok && ages.Kind == yaml.SequenceNode {
		for _, a := range ages.Content {
			if a.Kind == yaml.MappingNode {
				if rcp, ok := fields(a)["recipient"]; ok {
					recipients = append(recipients, rcp.Value)
				}
			}
		}
	}
	if len(recipients) == 0 {
		r.add("/sops/age", m, "lists no age recipient: Flux decrypts with an age key only")
	}
	return recipients
}

// plain returns the unencrypted string at the slash-separated path of
// top, or reports it missing, not a string, encrypted, or refused by
// check (a message, or "").
func (r *reader) plain(top map[string]*yaml.Node, path string, parent *yaml.Node, check func(string) string) string {
	name := path[strings.LastIndexByte(path, '/')+1:]
	ptr := "/" + path
	n, ok := top[name]
	switch {
	case !ok:
		r.add(ptr, parent, "is required")
		return ""
	case n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str":
		r.add(ptr, n, "must be a string")
		return ""
	case IsEncrypted(n.Value):
		r.add(ptr, n, "is encrypted; encrypt only data and stringData (sops --encrypted-regex '^(data|stringData)$')")
		return ""
	}
	if check != nil {
		if msg := check(n.Value); msg != "" {
			r.add(ptr, n, "%s, not %q", msg, n.Value)
			return ""
		}
	}
	return n.Value
}

// document parses data as exactly one YAML document and returns its
// content.
func document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("is empty: it must be a Kubernetes Secret manifest encrypted by SOPS")
		}
		return nil, fmt.Errorf("is not YAML: %w", err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("must hold one YAML document, one Secret")
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("is empty: it must be a Kubernetes Secret manifest encrypted by SOPS")
	}
	return doc.Content[0], nil
}

// fields returns the values of a mapping node by key; of a repeated key,
// the first.
func fields(m *yaml.Node) map[string]*yaml.Node {
	out := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if _, dup := out[m.Content[i].Value]; !dup {
			out[m.Content[i].Value] = m.Content[i+1]
		}
	}
	return out
}

// escape escapes a JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
