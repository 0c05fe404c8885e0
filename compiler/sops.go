package compiler

import (
	"crypto/sha256"
	"fmt"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/meta"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// sopsProvider is the decryption provider of Flux's Kustomization that
// decrypts SOPS-encrypted manifests.
const sopsProvider = "sops"

// sopsFiles returns the encrypted Secret files of wf among src: those
// its secret nodes reference, in node order, then its environment
// Secret's when src holds it (see envSecret).
func sopsFiles(wf *workflow.Workflow, src source.Files) []string {
	var files []string
	for i := range wf.Nodes {
		if d, ok := wf.Nodes[i].Spec.(*workflow.SecretData); ok && d.SopsFile != "" {
			files = append(files, d.SopsFile)
		}
	}
	if p, ok := sopsfile.EnvFileOf(wf, src); ok {
		files = append(files, p)
	}
	return files
}

// sopsKey identifies the content of the encrypted Secret files of wf, so
// that a workflow is rendered again when one changes; "" when it has
// none.
func sopsKey(wf *workflow.Workflow, src source.Files) string {
	files := sopsFiles(wf, src)
	if len(files) == 0 {
		return ""
	}
	h := sha256.New()
	for _, p := range files {
		sum := sha256.Sum256(src[p])
		h.Write(sum[:])
	}
	return fmt.Sprintf("/%x", h.Sum(nil))
}

// sopsDecryption returns the decryption of wf's Kustomization on cluster
// cl: SOPS, with the age key in the Secret the cluster file names, when
// wf has an encrypted Secret file among src; nil otherwise. The Secret
// is in the Kustomization's namespace, where Flux looks for it.
func sopsDecryption(wf *workflow.Workflow, cl *workflow.Cluster, src source.Files) *kustomizev1.Decryption {
	if len(sopsFiles(wf, src)) == 0 || cl == nil || cl.Sops == nil {
		return nil
	}
	return &kustomizev1.Decryption{Provider: sopsProvider, SecretRef: &meta.LocalObjectReference{Name: cl.Sops.KeySecret}}
}
