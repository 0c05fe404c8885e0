package compiler

import (
	"crypto/sha256"
	"fmt"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/workflow"
)

// renderEnvSecret renders the environment Secret of the workflow
// (workflow.EnvSecretName), which holds the values of the variables its
// workloads give by name only, when the repository holds its encrypted
// file (sopsfile.EnvFileOf): that file, its ciphertext as it is, which
// Flux decrypts when it applies it (see sopsDecryption). It returns the
// object and the file; ok is false when there is no such file, and the
// Secret is then supplied in the cluster (see docs/secrets.md).
func renderEnvSecret(rc *renderContext) (o object, file string, ok bool) {
	file, ok = sopsfile.EnvFileOf(rc.wf, rc.files)
	if !ok {
		return object{}, "", false
	}
	return object{kind: "Secret", name: workflow.EnvSecretName(rc.wf.Name), raw: rc.files[file]}, file, true
}

// envInput returns what the config hash covers of the environment
// Secret when the compiler renders it: the hash of its ciphertext, which
// changes with its values. ok is false when it does not render it.
func (rc *renderContext) envInput() (in configInput, ok bool) {
	o, _, ok := renderEnvSecret(rc)
	if !ok {
		return configInput{}, false
	}
	return configInput{Kind: workflow.KindSecret, Name: o.name, Encrypted: fmt.Sprintf("%x", sha256.Sum256(o.raw))}, true
}
