package sopsfile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/slipway-gitops/slipway/workflow"
)

// Check checks the encrypted Secret files of a repository, files by
// path, and the secret nodes that reference them (SecretData.SopsFile):
// that every such file is encrypted (Parse), and that each published
// workflow's referenced file exists, names the node's Secret, holds
// exactly the node's keys and is encrypted for one of the age keys of the
// workflow's cluster, which must have sops settings; and each published
// workflow's environment Secret file, when it has one (see checkEnv).
// Workflows and clusters must be valid and resolved (workflow.CheckSet).
// It returns nil when all is well.
func Check(files map[string][]byte, workflows []*workflow.Workflow, clusters []*workflow.Cluster) workflow.Errors {
	var errs workflow.Errors
	parsed := map[string]*Secret{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !workflow.IsSopsFile(p) {
			continue
		}
		s, err := Parse(p, files[p])
		if err != nil {
			errs = append(errs, workflow.AsErrors(err)...)
			continue
		}
		parsed[p] = s
	}
	byName := map[string]*workflow.Cluster{}
	for _, cl := range clusters {
		byName[cl.Name] = cl
	}
	for _, wf := range workflows {
		if wf.Status != workflow.StatusPublished {
			continue
		}
		errs = append(errs, checkEnv(files, parsed[EnvFile(wf.Name)], wf, byName[wf.Cluster()])...)
		for i := range wf.Nodes {
			n := &wf.Nodes[i]
			d, ok := n.Spec.(*workflow.SecretData)
			if !ok || d.SopsFile == "" {
				continue
			}
			add := func(field, format string, args ...any) {
				errs = append(errs, &workflow.Error{File: workflow.WorkflowFile(wf.Name), Pointer: fmt.Sprintf("/nodes/%d/data/%s", i, field), NodeID: n.ID, Message: fmt.Sprintf(format, args...)})
			}
			cl := byName[wf.Cluster()]
			if cl == nil || cl.Sops == nil {
				add("sopsFile", "cluster %q has no sops settings (sops.age and sops.keySecret in %s): Flux could not decrypt %s", wf.Cluster(), workflow.ClusterFile(wf.Cluster()), d.SopsFile)
			}
			if _, ok := files[d.SopsFile]; !ok {
				add("sopsFile", "%s does not exist; write it with compiler secret set --workflow %s --node %s", d.SopsFile, wf.Name, n.ID)
				continue
			}
			s := parsed[d.SopsFile]
			if s == nil {
				continue // its own problems are reported
			}
			if s.Name != d.Name {
				add("name", "%q differs from the Secret's name %q in %s", d.Name, s.Name, d.SopsFile)
			}
			if want := cmpType(d.SecretType); cmpType(s.Type) != want {
				add("secretType", "%q differs from the type %q of the Secret in %s", want, cmpType(s.Type), d.SopsFile)
			}
			declared := make([]string, 0, len(d.Keys))
			for _, k := range d.Keys {
				declared = append(declared, k.Name)
			}
			if missing := minus(declared, s.Keys); len(missing) > 0 {
				add("keys", "%s does not hold %s; set them with compiler secret set", d.SopsFile, quoted(missing))
			}
			if extra := minus(s.Keys, declared); len(extra) > 0 {
				add("keys", "%s holds %s, which the node does not list", d.SopsFile, quoted(extra))
			}
			if cl != nil && cl.Sops != nil && !slices.ContainsFunc(s.Recipients, func(r string) bool { return slices.Contains(cl.Sops.Age, r) }) {
				add("sopsFile", "%s is encrypted for none of the age keys of %s /sops/age: Flux could not decrypt it; set its values again with compiler secret set", d.SopsFile, workflow.ClusterFile(cl.Name))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	errs.Sort()
	return errs
}

// cmpType returns a Secret type, Opaque when empty.
func cmpType(t string) string {
	if t == "" {
		return "Opaque"
	}
	return t
}

// minus returns the elements of a that are not in b.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func quoted(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", k)
	}
	return "the keys " + strings.Join(q, ", ")
}
