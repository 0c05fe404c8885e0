package sopsfile

import (
	"fmt"
	"slices"

	"github.com/slipway-gitops/slipway/workflow"
)

// EnvFile returns the path of the encrypted environment Secret of the
// workflow named wf (workflow.EnvSecretName): where a secret node of that
// name would keep its file, secrets/<wf>/<wf>-env.sops.yaml.
func EnvFile(wf string) string { return workflow.SopsFile(wf, workflow.EnvSecretName(wf)) }

// EnvFileOf returns the path of the environment Secret file of w and
// whether files hold it as w's environment Secret: the file exists and
// no secret node of w is named like the Secret, for such a node's file
// is the node's own.
func EnvFileOf(w *workflow.Workflow, files map[string][]byte) (string, bool) {
	p := EnvFile(w.Name)
	_, ok := files[p]
	return p, ok && envNode(w) == nil
}

// EnvKeys returns the keys of w's environment Secret that its workloads
// read, sorted: <workload>.<NAME> for each variable given by name only
// (workflow.EnvSecretKey), and any other key an envKeys secretKeyRef
// names in that Secret.
func EnvKeys(w *workflow.Workflow) []string {
	name := workflow.EnvSecretName(w.Name)
	var keys []string
	for _, n := range w.Nodes {
		wl, ok := n.Spec.(workflow.Workload)
		if !ok {
			continue
		}
		for _, e := range wl.ContainerSpec().EnvKeys {
			if e.SecretKeyRef != nil && e.SecretKeyRef.Name == name {
				keys = append(keys, e.SecretKeyRef.Key)
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// EnvKey returns the key of w's environment Secret that holds the
// variable name of the workload node id, and whether that node is a
// workload that gives the variable by name only, reading it from that
// key (or names the key itself in a secretKeyRef). It returns "" when
// no node of w has the id or it is not a workload.
func EnvKey(w *workflow.Workflow, id, name string) (key string, declared bool) {
	i := slices.IndexFunc(w.Nodes, func(n workflow.Node) bool { return n.ID == id })
	if i < 0 {
		return "", false
	}
	wl, ok := w.Nodes[i].Spec.(workflow.Workload)
	if !ok {
		return "", false
	}
	key = workflow.EnvSecretKey(w.Nodes[i].Name(), name)
	secret := workflow.EnvSecretName(w.Name)
	return key, slices.ContainsFunc(wl.ContainerSpec().EnvKeys, func(e workflow.EnvVarEntry) bool {
		return e.Name == name && e.SecretKeyRef != nil && e.SecretKeyRef.Name == secret && e.SecretKeyRef.Key == key
	})
}

// envNode returns the secret node of w named like its environment
// Secret, or nil.
func envNode(w *workflow.Workflow) *workflow.Node {
	name := workflow.EnvSecretName(w.Name)
	for i := range w.Nodes {
		if s, ok := w.Nodes[i].Spec.(*workflow.SecretData); ok && s.Name == name {
			return &w.Nodes[i]
		}
	}
	return nil
}

// checkEnv returns the problems of the environment Secret file of the
// published workflow w, when files hold one (EnvFileOf): it must be the
// Secret workflow.EnvSecretName(w.Name), of type Opaque, encrypted for
// one of the age keys of w's cluster cl, which must have sops settings.
// s is the file parsed, nil when it did not parse (its problems are
// reported with the file's own). Keys no workload reads are no problem:
// an editor removes a variable with a save that cannot rewrite the file,
// and the next run writes the file anew without them.
func checkEnv(files map[string][]byte, s *Secret, w *workflow.Workflow, cl *workflow.Cluster) workflow.Errors {
	p, ok := EnvFileOf(w, files)
	if !ok {
		return nil
	}
	var errs workflow.Errors
	add := func(ptr, format string, args ...any) {
		errs = append(errs, &workflow.Error{File: p, Pointer: ptr, Message: fmt.Sprintf(format, args...)})
	}
	if cl == nil || cl.Sops == nil {
		add("/sops", "cluster %q of %s has no sops settings (sops.age and sops.keySecret in %s): Flux could not decrypt the environment Secret", w.Cluster(), workflow.WorkflowFile(w.Name), workflow.ClusterFile(w.Cluster()))
	}
	if s == nil {
		return errs
	}
	if want := workflow.EnvSecretName(w.Name); s.Name != want {
		add("/metadata/name", "%q must be %q: the file holds the environment Secret of %s", s.Name, want, workflow.WorkflowFile(w.Name))
	}
	if cmpType(s.Type) != "Opaque" {
		add("/type", "%q must be Opaque: the environment Secret holds the values of environment variables", s.Type)
	}
	if cl != nil && cl.Sops != nil && !slices.ContainsFunc(s.Recipients, func(r string) bool { return slices.Contains(cl.Sops.Age, r) }) {
		add("/sops/age", "is encrypted for none of the age keys of %s /sops/age: Flux could not decrypt it; set its values again with compiler secret set --node %s", workflow.ClusterFile(cl.Name), workflow.EnvSecretName(w.Name))
	}
	return errs
}
