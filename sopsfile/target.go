package sopsfile

import (
	"fmt"
	"slices"

	"github.com/slipway-gitops/slipway/workflow"
)

// Target is what writing a secret node's encrypted file takes: the node,
// its Secret's name, type and keys, the file it names (empty when it names
// none yet), and the age public keys of its workflow's cluster. For the
// workflow's environment Secret, NodeID is empty, Keys are EnvKeys and
// File is EnvFile.
type Target struct {
	NodeID, Name, Type, File, Cluster string
	Keys, Recipients                  []string
}

// TargetOf returns the secret node of w whose id or Secret name is ref,
// or, when ref names w's environment Secret (workflow.EnvSecretName) and
// no secret node holds it, that Secret; and the age keys of w's cluster
// among clusters, which must have sops settings. Errors name the
// workflow's or the cluster's file.
func TargetOf(w *workflow.Workflow, clusters []*workflow.Cluster, ref string) (Target, error) {
	path := workflow.WorkflowFile(w.Name)
	var t Target
	for _, n := range w.Nodes {
		if s, ok := n.Spec.(*workflow.SecretData); ok && (n.ID == ref || s.Name == ref) {
			t = Target{NodeID: n.ID, Name: s.Name, Type: s.SecretType, File: s.SopsFile, Cluster: w.Cluster()}
			for _, k := range s.Keys {
				t.Keys = append(t.Keys, k.Name)
			}
			break
		}
	}
	switch {
	case t.NodeID == "" && ref == workflow.EnvSecretName(w.Name):
		t = Target{Name: ref, File: EnvFile(w.Name), Cluster: w.Cluster(), Keys: EnvKeys(w)}
	case t.NodeID == "":
		return Target{}, fmt.Errorf("%s: no secret node has the id or name %q", path, ref)
	}
	if c := slices.IndexFunc(clusters, func(c *workflow.Cluster) bool { return c.Name == t.Cluster }); c >= 0 && clusters[c].Sops != nil {
		t.Recipients = clusters[c].Sops.Age
	}
	if len(t.Recipients) == 0 {
		return Target{}, fmt.Errorf("%s: no sops settings: add \"sops\": {\"age\": [\"age1…\"], \"keySecret\": \"sops-age\"}", workflow.ClusterFile(t.Cluster))
	}
	return t, nil
}
