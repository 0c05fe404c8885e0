// Package encrypt writes the SOPS-encrypted Secret manifests that secret
// nodes reference (see package sopsfile): it encrypts a Secret's values
// for age public keys with the SOPS and age libraries, in memory, and
// decrypts one when an age private key is at hand (SOPS_AGE_KEY_FILE,
// SOPS_AGE_KEY or SOPS's default keys file), to change some of its values
// and keep the others. Only data and stringData are encrypted, and the
// MAC covers only them (mac_only_encrypted), so that the namespace
// kustomize sets does not break it. Errors never hold a value.
package encrypt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	yamlstore "github.com/getsops/sops/v3/stores/yaml"

	"github.com/slipway-gitops/slipway/sopsfile"
)

// sopsVersion is the version of SOPS, the library of go.mod, that the
// files written record (its version package would link its command
// line's dependencies).
const sopsVersion = "3.13.2"

// encryptedFields are the fields of a Secret whose values are encrypted.
const encryptedFields = "^(data|stringData)$"

// Secret is a Kubernetes Secret in plaintext, in memory only.
type Secret struct {
	Name string
	// Type is the Secret's type; empty for Opaque.
	Type string
	// Data are the values by key.
	Data map[string][]byte
}

// Encrypt returns the manifest of s with its values encrypted for the age
// public keys recipients: a v1 Secret whose data values are SOPS's
// ENC[AES256_GCM,…], keys sorted.
func Encrypt(s Secret, recipients []string) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("encrypt: no age recipients")
	}
	group := make(sops.KeyGroup, 0, len(recipients))
	for _, r := range recipients {
		k, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("encrypt: age recipient %q: %w", r, err)
		}
		group = append(group, k)
	}
	data := sops.TreeBranch{}
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		data = append(data, sops.TreeItem{Key: k, Value: base64.StdEncoding.EncodeToString(s.Data[k])})
	}
	meta := sops.TreeBranch{{Key: "name", Value: s.Name}}
	doc := sops.TreeBranch{{Key: "apiVersion", Value: "v1"}, {Key: "kind", Value: "Secret"}, {Key: "metadata", Value: meta}}
	if s.Type != "" {
		doc = append(doc, sops.TreeItem{Key: "type", Value: s.Type})
	}
	doc = append(doc, sops.TreeItem{Key: "data", Value: data})
	tree := sops.Tree{
		Branches: sops.TreeBranches{doc},
		Metadata: sops.Metadata{
			KeyGroups:        []sops.KeyGroup{group},
			EncryptedRegex:   encryptedFields,
			MACOnlyEncrypted: true,
			Version:          sopsVersion,
		},
	}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		return nil, fmt.Errorf("encrypt: data key: %w", errors.Join(errs...))
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	tree.Metadata.LastModified = time.Now().UTC()
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, fmt.Errorf("encrypt: MAC: %w", err)
	}
	out, err := store().EmitEncryptedFile(tree)
	if err != nil {
		return nil, fmt.Errorf("encrypt: write: %w", err)
	}
	return out, nil
}

// Decrypt returns the Secret of an encrypted manifest at path file,
// decrypted with the age identities SOPS finds (SOPS_AGE_KEY_FILE,
// SOPS_AGE_KEY, its default keys file), after checking its MAC.
func Decrypt(file string, data []byte) (Secret, error) {
	if _, err := sopsfile.Parse(file, data); err != nil {
		return Secret{}, err
	}
	tree, err := store().LoadEncryptedFile(data)
	if err != nil {
		return Secret{}, fmt.Errorf("%s: read: %w", file, err)
	}
	key, err := tree.Metadata.GetDataKey()
	if err != nil {
		return Secret{}, fmt.Errorf("%s: no age private key of its recipients at hand (set SOPS_AGE_KEY_FILE): %w", file, err)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		return Secret{}, fmt.Errorf("%s: decrypt: %w", file, err)
	}
	stored, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != mac {
		return Secret{}, fmt.Errorf("%s: the MAC does not match: the file was changed after it was encrypted", file)
	}
	s := Secret{Data: map[string][]byte{}}
	for _, item := range tree.Branches[0] {
		switch item.Key {
		case "metadata":
			if m, ok := item.Value.(sops.TreeBranch); ok {
				for _, f := range m {
					if f.Key == "name" {
						s.Name, _ = f.Value.(string)
					}
				}
			}
		case "type":
			s.Type, _ = item.Value.(string)
		case "data", "stringData":
			if err := s.read(file, item); err != nil {
				return Secret{}, err
			}
		}
	}
	return s, nil
}

// read adds the values of the data or stringData field item to s.
func (s *Secret) read(file string, item sops.TreeItem) error {
	field, _ := item.Key.(string)
	values, ok := item.Value.(sops.TreeBranch)
	if !ok {
		return fmt.Errorf("%s: /%s: must be a mapping", file, field)
	}
	for _, v := range values {
		k, _ := v.Key.(string)
		str, ok := v.Value.(string)
		if !ok {
			return fmt.Errorf("%s: /%s/%s: must be a string", file, field, k)
		}
		if field == "stringData" {
			s.Data[k] = []byte(str)
			continue
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return fmt.Errorf("%s: /%s/%s: is not base64", file, field, k)
		}
		s.Data[k] = b
	}
	return nil
}

// Set returns the manifest of the Secret named name, of type typ, with
// the values set and those of the encrypted manifest existing (nil when
// there is none) that set does not replace, encrypted for recipients.
// Keeping a value of existing needs its key: Set decrypts existing only
// when set leaves one of its keys out, and fails, naming the keys, when
// no age private key of its recipients is at hand.
func Set(file string, existing []byte, name, typ string, set map[string][]byte, recipients []string) ([]byte, error) {
	s := Secret{Name: name, Type: typ, Data: maps.Clone(set)}
	if existing != nil {
		parsed, err := sopsfile.Parse(file, existing)
		if err != nil {
			return nil, err
		}
		var kept []string
		for _, k := range parsed.Keys {
			if _, ok := set[k]; !ok {
				kept = append(kept, k)
			}
		}
		if len(kept) > 0 {
			old, err := Decrypt(file, existing)
			if err != nil {
				return nil, fmt.Errorf("keeping %s of %s needs their values: %w; or give every key again", quote(kept), file, err)
			}
			for _, k := range kept {
				s.Data[k] = old.Data[k]
			}
		}
	}
	return Encrypt(s, recipients)
}

func quote(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(q, ", ")
}

// store returns SOPS's YAML store with its default settings.
func store() *yamlstore.Store { return &yamlstore.Store{} }
