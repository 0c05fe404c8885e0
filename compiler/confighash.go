package compiler

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/slipway-gitops/slipway/workflow"
)

// AnnotationConfigHash, on the pod template of a Deployment, StatefulSet
// or DaemonSet, is a hash of the ConfigMaps and Secrets of the workflow
// that its pods read. A pod reads them when it starts, and Kubernetes
// replaces a workload's pods only when its pod template changes: the hash
// makes a change to their data a change to the template, which rolls the
// pods out.
const AnnotationConfigHash = "slipway.dev/config-hash"

// configInput is what the config hash covers of one ConfigMap or Secret
// node. Its JSON encoding is canonical: fields in declaration order, map
// keys sorted.
type configInput struct {
	Kind workflow.Kind `json:"kind"`
	Name string        `json:"name"`
	// Data is a ConfigMap's keys and values.
	Data map[string]string `json:"data,omitempty"`
	// Type and Keys are a Secret's type and key names, sorted. Its values
	// are never in the workflow.
	Type string   `json:"type,omitempty"`
	Keys []string `json:"keys,omitempty"`
	// Sources are the objects of the workflow that supply a Secret's
	// values (an ExternalSecret: where the values come from, not them).
	Sources []any `json:"sources,omitempty"`
	// Encrypted is the SHA-256 of a Secret's SOPS-encrypted file, which
	// changes with its values.
	Encrypted string `json:"encrypted,omitempty"`
}

// podAnnotations returns the annotations of the pod template of workload
// n, whose container is c: the config hash of the ConfigMap and Secret
// nodes its pods read, through a link or an envKeys reference, and of the
// environment Secret the workflow renders when they read it, or nil when
// they read none.
//
// A Job's or CronJob's pods get no hash: a Job's pod template cannot
// change, so a hash there would make Flux re-create the Job, and run it
// again, on every change of the data; a CronJob's next Job reads the data
// as it starts.
func (rc *renderContext) podAnnotations(n *workflow.Node, c *workflow.Container) (map[string]string, error) {
	switch n.Type {
	case workflow.KindDeployment, workflow.KindStatefulSet, workflow.KindDaemonSet:
	default:
		return nil, nil
	}
	read := map[*workflow.Node]bool{}
	for _, l := range rc.valid.Links() {
		if l.To == n && (l.Kind == workflow.LinkMount || l.Kind == workflow.LinkEnvFrom) {
			read[l.From] = true
		}
	}
	var inputs []configInput
	readsEnv := false
	for _, e := range c.EnvKeys {
		if r := e.ConfigMapKeyRef; r != nil {
			read[rc.node(workflow.KindConfigMap, r.Name)] = true
		}
		if r := e.SecretKeyRef; r != nil {
			read[rc.node(workflow.KindSecret, r.Name)] = true
			readsEnv = readsEnv || r.Name == workflow.EnvSecretName(rc.wf.Name)
		}
	}
	// The environment Secret is no node's, but the workflow renders it
	// when its encrypted file is in the repository.
	if env, ok := rc.envInput(); ok && readsEnv {
		inputs = append(inputs, env)
	}
	delete(read, nil) // a reference to a ConfigMap or Secret the workflow does not draw
	if len(read) == 0 && len(inputs) == 0 {
		return nil, nil
	}
	for src := range read {
		in, err := rc.configInput(src)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	slices.SortFunc(inputs, func(a, b configInput) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	b, err := json.Marshal(inputs)
	if err != nil {
		return nil, fmt.Errorf("config hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return map[string]string{AnnotationConfigHash: hex.EncodeToString(sum[:])}, nil
}

// node returns the node of kind and name, or nil.
func (rc *renderContext) node(kind workflow.Kind, name string) *workflow.Node {
	for i := range rc.wf.Nodes {
		if n := &rc.wf.Nodes[i]; n.Type == kind && n.Name() == name {
			return n
		}
	}
	return nil
}

// configInput returns what the config hash covers of ConfigMap or Secret
// node n.
func (rc *renderContext) configInput(n *workflow.Node) (configInput, error) {
	in := configInput{Kind: n.Type, Name: n.Name()}
	switch d := n.Spec.(type) {
	case *workflow.ConfigMapData:
		in.Data = d.Data
	case *workflow.SecretData:
		in.Type = d.SecretType
		for _, k := range d.Keys {
			in.Keys = append(in.Keys, k.Name)
		}
		slices.Sort(in.Keys)
		sources, err := rc.secretSources(in.Name)
		if err != nil {
			return configInput{}, err
		}
		in.Sources = sources
		if d.SopsFile != "" {
			in.Encrypted = fmt.Sprintf("%x", sha256.Sum256(rc.files[d.SopsFile]))
		}
	}
	return in, nil
}

// secretSources returns, as rendered, the plugin objects of the workflow
// that supply the Secret name: one whose spec.target.name is name (an
// ExternalSecret), or whose spec.secretName is name (cert-manager's
// Certificate), or, naming neither, an ExternalSecret or SealedSecret
// named name.
func (rc *renderContext) secretSources(name string) ([]any, error) {
	var out []any
	for i := range rc.wf.Nodes {
		n := &rc.wf.Nodes[i]
		if n.Type != workflow.KindPlugin {
			continue
		}
		objs, err := renderPlugin(rc, n)
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", n.ID, err)
		}
		obj := objs[0].value.(map[string]any)
		target, hasTarget := lookupString(obj, "spec", "target", "name")
		secret, hasSecret := lookupString(obj, "spec", "secretName")
		switch {
		case hasTarget || hasSecret:
			if target != name && secret != name {
				continue
			}
		case objs[0].name != name || (objs[0].kind != "ExternalSecret" && objs[0].kind != "SealedSecret"):
			continue
		}
		out = append(out, map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": objs[0].name, "spec": obj["spec"]})
	}
	return out, nil
}

// lookupString returns the string at a path of map keys.
func lookupString(v any, keys ...string) (string, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = m[k]
	}
	s, ok := v.(string)
	return s, ok
}
