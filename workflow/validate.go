package workflow

import (
	"bytes"
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
)

// validator checks one decoded workflow. Node-level checks are in
// validate_kinds.go; links are resolved in resolve.go and checked in
// checklinks.go.
type validator struct {
	c      *collector
	wf     *Workflow
	file   string
	nodeOK []bool
	byID   map[string]int
	// cleared holds the ids of the nodes whose namespace was cleared.
	cleared map[string]bool
	// valid is the validated workflow resolveLinks makes.
	valid *Valid
}

// run validates the workflow and, when it is valid, completes it: editor
// forms are resolved, warnings kept and its Valid set.
func (v *validator) run() error {
	v.validate()
	if err := v.c.err(); err != nil {
		return err
	}
	resolveEditorForms(v.wf)
	v.c.warnings.Sort()
	v.wf.Warnings, v.wf.valid = v.c.warnings, v.valid
	return nil
}

func (v *validator) validate() {
	v.nodeNamespace()
	v.validateTop()
	v.validateNodes()
	v.resolveLinks()
	v.checkLinks()
}

func (v *validator) validateTop() {
	wf := v.wf
	name := stem(v.file)
	switch {
	case wf.Name == "":
		v.c.add("/name", "", "is required and must be %q, the file name", name)
	case wf.Name != name:
		v.c.add("/name", "", "%q must equal the file name %q", wf.Name, name)
	default:
		if v.dns1123Label("/name", "", wf.Name) {
			if why := ReservedName(wf.Name); why != "" {
				v.c.add("/name", "", "%q is reserved: %s; the workflow's Flux Kustomization would take its place. Rename the file", wf.Name, why)
			}
		}
	}
	switch wf.Status {
	case StatusDraft, StatusPublished, StatusArchived:
	case "":
		v.c.add("/status", "", "is required: draft, published or archived")
	default:
		v.c.add("/status", "", "%q must be draft, published or archived", wf.Status)
	}
	nsPtr, nsNode := wf.NamespacePointer()
	if wf.Namespace != "" {
		v.dns1123Label(nsPtr, nsNode, wf.Namespace)
	}
	if ns := wf.TargetNamespace(); ReservedNamespaces[ns] {
		v.c.add(nsPtr, nsNode, "namespace %q belongs to Kubernetes or Flux; a workflow cannot deploy into it (set namespace)", ns)
	}
	if wf.ClusterID != "" {
		v.dns1123Label("/cluster_id", "", wf.ClusterID)
	}
	seen := map[string]bool{}
	for i, d := range wf.DependsOn {
		ptr := pointer("/dependsOn", i)
		switch {
		case d == wf.Name:
			v.c.add(ptr, "", "a workflow cannot depend on itself")
		case seen[d]:
			v.c.add(ptr, "", "%q is listed twice", d)
		default:
			v.dns1123Label(ptr, "", d)
		}
		seen[d] = true
	}
	v.fluxSettings("/flux", wf.Flux)
	if wf.Nodes == nil {
		v.c.add("/nodes", "", "is required (an empty array is allowed)")
	}
	if wf.Edges == nil {
		v.c.add("/edges", "", "is required (an empty array is allowed)")
	}
}

// DefaultNamespace is where KubeOrch deploys a node whose namespace was
// cleared in its editor.
const DefaultNamespace = "default"

// nodeNamespace gives a workflow without a namespace of its own the
// namespace its nodes name, as editors that keep a namespace per node
// (KubeOrch's) save them; when every node's namespace was cleared, it is
// KubeOrch's default. Nodes that name another namespace are reported by
// the node checks.
func (v *validator) nodeNamespace() {
	v.cleared = map[string]bool{}
	first := ""
	for i := range v.wf.Nodes {
		if n := &v.wf.Nodes[i]; namespaceCleared(n.Data) {
			v.cleared[n.ID] = true
			if first == "" {
				first = n.ID
			}
		}
	}
	if v.wf.Namespace != "" {
		return
	}
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		if n.Spec != nil && n.Spec.ObjectMeta().Namespace != "" {
			v.wf.Namespace, v.wf.nsNode = n.Spec.ObjectMeta().Namespace, n.ID
			return
		}
	}
	if first != "" {
		v.wf.Namespace, v.wf.nsNode = DefaultNamespace, first
	}
}

// namespaceCleared reports whether a node's data has a namespace that was
// cleared: the key is there, null or empty.
func namespaceCleared(data json.RawMessage) bool {
	if !bytes.Contains(data, []byte(`"namespace"`)) {
		return false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	ns, ok := fields["namespace"]
	return ok && (string(ns) == "null" || string(ns) == `""`)
}

// resolveEditorForms rewrites what editors write in another form into the
// form the renderer reads, once the workflow is valid: a probe's
// exec.command becomes its command, and an environment entry with a name
// only reads its value from the workflow's environment Secret.
func resolveEditorForms(wf *Workflow) {
	for i := range wf.Nodes {
		w, ok := wf.Nodes[i].Spec.(Workload)
		if !ok {
			continue
		}
		c := w.ContainerSpec()
		for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe} {
			if p != nil && p.Exec != nil {
				p.Command, p.Exec = p.Exec.Command, nil
			}
		}
		for j := range c.EnvKeys {
			e := &c.EnvKeys[j]
			if e.Value == nil && e.SecretKeyRef == nil && e.ConfigMapKeyRef == nil {
				e.SecretKeyRef = &KeyRef{Name: EnvSecretName(wf.Name), Key: EnvSecretKey(wf.Nodes[i].Name(), e.Name)}
			}
		}
	}
}

// EnvSecretName is the Secret that holds the values of a workflow's
// environment variables that are given by name only.
func EnvSecretName(workflow string) string { return workflow + "-env" }

// EnvSecretKey is the key of EnvSecretName that holds the value of the
// variable name of a workload: <workload>.<name>. Each workload has keys
// of its own, since KubeOrch keeps a value per node and two workloads may
// give one name different values; a workload name has no dot, so no two
// keys meet.
func EnvSecretKey(workload, name string) string { return workload + "." + name }

// ReservedNamespaces belong to Kubernetes or Flux: no workflow may deploy
// into them, since a workflow relabels its namespace and its Kustomization
// prunes what it applied there.
var ReservedNamespaces = map[string]bool{
	"kube-system": true, "kube-public": true, "kube-node-lease": true, "flux-system": true,
}

// reservedPrefix starts the names of the Flux objects Slipway renders for
// itself beside the workflows' Kustomizations, in the namespace of
// Slipway's Flux objects: the cluster Kustomizations slipway-<cluster> and
// the accounts slipway-cluster-<cluster> and slipway-workflow-<workflow>.
// A workflow so named would replace a cluster Kustomization. Other names
// are free: that namespace is Slipway's own, so no name there can be the
// operator's (the compiler refuses to render into Flux's own namespace a
// workflow named like Flux's own Kustomization).
const reservedPrefix = "slipway-"

// ReservedName says why a workflow may not be called name, or returns ""
// when it may.
func ReservedName(name string) string {
	if strings.HasPrefix(name, reservedPrefix) {
		return "names starting with slipway- are the cluster Kustomizations that apply clusters/<cluster>, which compiler bootstrap renders"
	}
	return ""
}

// validateNodes checks ids, kinds, names and each node's data.
func (v *validator) validateNodes() {
	v.byID = make(map[string]int, len(v.wf.Nodes))
	// Names are unique per kind of object: plugin nodes of different
	// kinds (a ServiceAccount and a PodDisruptionBudget, a Certificate and
	// its Issuer) may share a name, as their objects do.
	type kindName struct {
		kind   Kind
		plugin string
		name   string
	}
	names := map[kindName]string{}
	podOwners := map[string]*Node{}
	// One nodeValidator serves every node: the kinds' checks are called
	// through their specs, which moves it to the heap.
	nv := &nodeValidator{validator: v}
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		base := pointer("/nodes", i)
		switch prev, dup := v.byID[n.ID]; {
		case n.ID == "":
			v.c.add(pointer(base, "id"), "", "is required")
		case dup:
			v.c.add(pointer(base, "id"), n.ID, "duplicate node id; also used by /nodes/%d", prev)
		default:
			v.byID[n.ID] = i
		}
		if n.Type.spec() == nil {
			if n.Type == "" {
				v.c.add(pointer(base, "type"), n.ID, "is required")
			} else {
				v.c.add(pointer(base, "type"), n.ID, "unknown node type %q; want one of %s", n.Type, kindList())
			}
			continue
		}
		if !v.nodeOK[i] {
			continue
		}
		nv.node, nv.base = n, pointer(base, "data")
		nv.validate()
		name := n.Name()
		if name == "" {
			continue
		}
		key, what := kindName{kind: n.Type, name: name}, string(n.Type)
		if p, ok := n.Spec.(*PluginData); ok {
			key.plugin, what = p.Kind, p.Kind
		}
		if prev, dup := names[key]; dup {
			v.c.add(pointer(base, "data", "name"), n.ID, "%s name %q is already used by node %q", what, name, prev)
		} else {
			names[key] = n.ID
		}
		if n.Type.IsWorkload() {
			prev, dup := podOwners[name]
			switch {
			case !dup:
				podOwners[name] = n
			case prev.Type != n.Type:
				v.c.add(pointer(base, "data", "name"), n.ID, "workload name %q is already used by %s node %q; pods of both would carry the same labels", name, prev.Type, prev.ID)
			}
		}
	}
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// The helpers below check common value formats and report at ptr.

func (v *validator) dns1123Label(ptr, nodeID, s string) bool {
	if s == "" {
		v.c.add(ptr, nodeID, "is required")
		return false
	}
	return v.report(ptr, nodeID, s, content.IsDNS1123Label(s))
}

func (v *validator) dns1123Subdomain(ptr, nodeID, s string) bool {
	if s == "" {
		v.c.add(ptr, nodeID, "is required")
		return false
	}
	return v.report(ptr, nodeID, s, content.IsDNS1123Subdomain(s))
}

// report adds Kubernetes validation messages for value s; it reports
// whether there were none.
func (v *validator) report(ptr, nodeID, s string, msgs []string) bool {
	if len(msgs) == 0 {
		return true
	}
	v.c.add(ptr, nodeID, "%q is invalid: %s", s, strings.Join(msgs, "; "))
	return false
}

func (v *validator) labels(ptr, nodeID string, m map[string]string, reservedOK bool) {
	for _, k := range sortedKeys(m) {
		p := pointer(ptr, k)
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			v.c.add(p, nodeID, "label key %q is invalid: %s", k, strings.Join(msgs, "; "))
			continue
		}
		if !reservedOK {
			for _, r := range reservedLabels {
				if k == r {
					v.c.add(p, nodeID, "label %q is set by slipway and cannot be overridden", k)
				}
			}
		}
		if msgs := content.IsLabelValue(m[k]); len(msgs) > 0 {
			v.c.add(p, nodeID, "label value %q is invalid: %s", m[k], strings.Join(msgs, "; "))
		}
	}
}

func (v *validator) annotations(ptr, nodeID string, m map[string]string) {
	total := 0
	for _, k := range sortedKeys(m) {
		total += len(k) + len(m[k])
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			v.c.add(pointer(ptr, k), nodeID, "annotation key %q is invalid: %s", k, strings.Join(msgs, "; "))
		}
		v.noSecretValue(pointer(ptr, k), nodeID, k, m[k])
	}
	if total > 256*1024 {
		v.c.add(ptr, nodeID, "annotations total %d bytes; Kubernetes allows 262144", total)
	}
}

func (v *validator) port(ptr, nodeID string, p int64, required bool) {
	if p == 0 && !required {
		return
	}
	if p < 1 || p > 65535 {
		v.c.add(ptr, nodeID, "must be 1..65535, not %d", p)
	}
}

func (v *validator) nonNegative(ptr, nodeID string, n *int64) {
	if n != nil && *n < 0 {
		v.c.add(ptr, nodeID, "must be 0 or more, not %d", *n)
	}
}

func (v *validator) positive(ptr, nodeID string, n *int64) {
	if n != nil && *n < 1 {
		v.c.add(ptr, nodeID, "must be 1 or more, not %d", *n)
	}
}

func (v *validator) oneOf(ptr, nodeID, s string, allowed ...string) bool {
	if s == "" {
		return true
	}
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	v.c.add(ptr, nodeID, "%q must be one of %s", s, strings.Join(allowed, ", "))
	return false
}

func (v *validator) absPath(ptr, nodeID, p string) {
	switch {
	case p == "":
		v.c.add(ptr, nodeID, "is required")
	case !strings.HasPrefix(p, "/"):
		v.c.add(ptr, nodeID, "%q must be an absolute path", p)
	case strings.Contains(p, ":"):
		v.c.add(ptr, nodeID, "%q must not contain ':'", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			v.c.add(ptr, nodeID, "%q must not contain '..'", p)
			break
		}
	}
}
