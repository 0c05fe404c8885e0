package workflow

import (
	"path"
	"regexp"
	"strings"
	"sync"
)

// SecretsDir holds the SOPS-encrypted Secrets of secret nodes, one per
// file: secrets/<workflow>/<secret>.sops.yaml (see SopsFile).
const SecretsDir = "secrets"

// sopsSuffix ends the name of every encrypted Secret file.
const sopsSuffix = ".sops.yaml"

// SopsFile returns the path of the encrypted Secret of the secret node
// whose Secret is named secret in the workflow named workflow.
func SopsFile(workflow, secret string) string {
	return SecretsDir + "/" + workflow + "/" + secret + sopsSuffix
}

// IsSopsFile reports whether a repository path is an encrypted Secret
// file: secrets/<workflow>/<secret>.sops.yaml.
func IsSopsFile(p string) bool {
	dir, file := path.Split(p)
	return path.Dir(path.Clean(dir)) == SecretsDir && strings.HasSuffix(file, sopsSuffix) && len(file) > len(sopsSuffix)
}

// ClusterSops is a cluster file's sops: the keys that encrypt the Secrets
// of the cluster's secret nodes that set sopsFile, and the Secret that
// lets Flux decrypt them.
type ClusterSops struct {
	// Age are the age public keys (age1…) the values are encrypted for;
	// any one of their private keys decrypts them.
	Age []string `json:"age"`
	// KeySecret names the Secret, in the namespace of the Flux objects,
	// that holds the age private key as the key age.agekey; it becomes
	// the decryption secretRef of every Kustomization that applies an
	// encrypted Secret.
	KeySecret string `json:"keySecret"`
}

// ageRecipient matches an age X25519 public key: "age1" and 58 bech32
// characters.
var ageRecipient = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`)
})

// clusterSops validates a cluster file's sops.
func (v *validator) clusterSops(ptr string, s *ClusterSops) {
	if s == nil {
		return
	}
	if len(s.Age) == 0 {
		v.c.add(pointer(ptr, "age"), "", "needs at least one age public key (age1…), the recipients values are encrypted for")
	}
	for i, r := range s.Age {
		if !ageRecipient().MatchString(r) {
			v.c.add(pointer(ptr, "age", i), "", "%q is not an age public key (age1 and 58 characters, as age-keygen -y prints)", r)
		}
	}
	if s.KeySecret == "" {
		v.c.add(pointer(ptr, "keySecret"), "", "is required: the Secret in the Flux namespace that holds the age private key as age.agekey")
		return
	}
	v.dns1123Subdomain(pointer(ptr, "keySecret"), "", s.KeySecret)
}

// sopsFile validates the sopsFile of a secret node: it is the path its
// Secret's encrypted file must have.
func (nv *nodeValidator) sopsFile(d *SecretData) {
	if d.SopsFile == "" || d.Name == "" {
		return
	}
	if want := SopsFile(nv.wf.Name, d.Name); d.SopsFile != want {
		nv.add(nv.at("sopsFile"), "%q must be %q: the encrypted Secret of a node is secrets/<workflow>/<secret name>.sops.yaml", d.SopsFile, want)
	}
}
