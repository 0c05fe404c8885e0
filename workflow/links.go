package workflow

import (
	"slices"
	"sort"
)

// LinkKind is what an edge means; the pair of node kinds decides it.
type LinkKind string

// Link kinds.
const (
	// LinkRoute routes an ingress path to a service.
	LinkRoute LinkKind = "route"
	// LinkSelect makes a service select a workload's pods.
	LinkSelect LinkKind = "select"
	// LinkMount mounts a configmap or secret into a workload as files.
	LinkMount LinkKind = "mount"
	// LinkEnvFrom loads every key of a configmap or secret as environment.
	LinkEnvFrom LinkKind = "envFrom"
	// LinkPullSecret makes a kubernetes.io/dockerconfigjson secret the
	// image pull secret of a workload.
	LinkPullSecret LinkKind = "pullSecret"
	// LinkVolume mounts a persistentvolumeclaim into a workload.
	LinkVolume LinkKind = "volume"
	// LinkScale makes an hpa scale a workload.
	LinkScale LinkKind = "scale"
	// LinkPolicy applies a networkpolicy to a workload's pods: an edge
	// from the policy itself (no handle, or KubeOrch's "output").
	LinkPolicy LinkKind = "policy"
	// LinkPeer allows traffic from (ingress rule) or to (egress rule) a
	// workload's pods: an edge from the handle of a networkpolicy rule,
	// named by the rule's id. It does not apply the policy to the workload.
	LinkPeer LinkKind = "peer"
	// LinkAfter starts a workload (To) only once another (From) answers on
	// its service: an edge between two workloads, drawn from the one that
	// waits to the one it waits for.
	LinkAfter LinkKind = "after"
)

// Default mount paths, as in the seed system.
const (
	DefaultConfigMountPath = "/etc/config"
	DefaultSecretMountPath = "/etc/secrets"
	DefaultVolumeMountPath = "/data"
)

// PolicyHandle is the handle of a networkpolicy node itself in KubeOrch's
// editor; an edge from it applies the policy, as an edge without a handle
// does.
const PolicyHandle = "output"

// EnvFromHandle, set as an edge's sourceHandle or targetHandle on a
// configmap or secret edge, loads its keys as environment variables
// instead of mounting them as files.
const EnvFromHandle = "envFrom"

// Link is an edge resolved into its meaning. From is the providing node
// (ingress, service, configmap, secret, persistentvolumeclaim, hpa,
// networkpolicy); To is the service (for routes) or the workload.
type Link struct {
	Kind LinkKind
	From *Node
	To   *Node
	// Edge is the index of the edge in the workflow's edges.
	Edge int
	// PathID is the ingress path a route serves.
	PathID string
	// RuleID is the networkpolicy rule a peer link adds the workload to;
	// Egress says whether it is an egress rule.
	RuleID string
	Egress bool
	// MountPath, SubPath and ReadOnly say where mounts and volumes go.
	MountPath string
	SubPath   string
	ReadOnly  bool
}

// Links returns every link of a validated workflow, in edge order.
func (w *Workflow) Links() []Link { return w.links }

// LinksTo returns the links of a kind whose To is the node with id.
func (w *Workflow) LinksTo(id string, kind LinkKind) []Link {
	return w.linksWhere(kind, func(l Link) bool { return l.To.ID == id })
}

// LinksFrom returns the links of a kind whose From is the node with id.
func (w *Workflow) LinksFrom(id string, kind LinkKind) []Link {
	return w.linksWhere(kind, func(l Link) bool { return l.From.ID == id })
}

func (w *Workflow) linksWhere(kind LinkKind, match func(Link) bool) []Link {
	var out []Link
	for _, l := range w.links {
		if l.Kind == kind && match(l) {
			out = append(out, l)
		}
	}
	return out
}

// PodLabels returns the labels of a workload's pods: its selector labels
// and its own labels.
func (w *Workflow) PodLabels(n *Node) map[string]string {
	out := SelectorLabels(w.Name, n.Name())
	for k, v := range n.Spec.ObjectMeta().Labels {
		out[k] = v
	}
	return out
}

// resolveLinks checks every edge, turns it into a Link, and checks that the
// link fields the editor copies into node data agree with the edges.
func (v *validator) resolveLinks() {
	type pair struct{ a, b, ha, hb string }
	seen := map[pair]int{}
	for i, e := range v.wf.Edges {
		base := pointer("/edges", i)
		if e.ID == "" {
			v.c.add(pointer(base, "id"), "", "is required")
		}
		src, okS := v.edgeEnd(base, "source", e.Source)
		dst, okT := v.edgeEnd(base, "target", e.Target)
		if !okS || !okT {
			continue
		}
		if e.Source == e.Target {
			v.c.add(base, e.Source, "edge %q links node %q to itself", e.ID, e.Source)
			continue
		}
		p := pair{e.Source, e.Target, e.SourceHandle, e.TargetHandle}
		if p.a > p.b && !(src.Type.IsWorkload() && dst.Type.IsWorkload()) {
			p = pair{e.Target, e.Source, e.TargetHandle, e.SourceHandle}
		}
		if prev, dup := seen[p]; dup {
			v.c.add(base, "", "edge %q repeats /edges/%d", e.ID, prev)
			continue
		}
		seen[p] = i
		from, to, fromHandle, toHandle := src, dst, e.SourceHandle, e.TargetHandle
		kind, ok := linkKind(src.Type, dst.Type)
		if src.Type.IsWorkload() && dst.Type.IsWorkload() {
			// The one edge kind whose direction matters: source waits for target.
			kind, ok, from, to = LinkAfter, true, dst, src
		}
		if !ok {
			kind, ok = linkKind(dst.Type, src.Type)
			from, to, fromHandle, toHandle = dst, src, e.TargetHandle, e.SourceHandle
		}
		if !ok {
			v.c.add(base, "", "edge %q cannot link a %s (node %q) to a %s (node %q)", e.ID, src.Type, src.ID, dst.Type, dst.ID)
			continue
		}
		if from.Spec == nil || to.Spec == nil {
			continue // the node's data is invalid and reported already
		}
		l := Link{Kind: kind, From: from, To: to, Edge: i}
		switch kind {
		case LinkRoute:
			l.PathID = fromHandle
		case LinkPolicy:
			if fromHandle != "" && fromHandle != PolicyHandle {
				egress, found := policyRule(from.Spec.(*NetworkPolicyData), fromHandle)
				if !found {
					v.c.add(base, "", "edge %q names rule %q of networkpolicy %q (node %q), which has no rule of that id; draw it from the policy (no handle) to apply the policy to %s %q, or from a rule's handle to allow its traffic",
						e.ID, fromHandle, from.Name(), from.ID, to.Type, to.Name())
					continue
				}
				l.Kind, l.RuleID, l.Egress = LinkPeer, fromHandle, egress
			}
		case LinkMount:
			if fromHandle == EnvFromHandle || toHandle == EnvFromHandle {
				l.Kind = LinkEnvFrom
			}
			if s, ok := from.Spec.(*SecretData); ok && s.SecretType == "kubernetes.io/dockerconfigjson" {
				l.Kind = LinkPullSecret
			}
		}
		v.wf.links = append(v.wf.links, l)
	}
	v.checkRoutes()
	v.checkSelects()
	v.checkMounts()
	v.checkScales()
	v.checkPolicies()
	v.checkAfter()
}

// edgeEnd finds the node an edge end names.
func (v *validator) edgeEnd(base, field, id string) (*Node, bool) {
	if id == "" {
		v.c.add(pointer(base, field), "", "is required")
		return nil, false
	}
	i, ok := v.byID[id]
	if !ok {
		v.c.add(pointer(base, field), "", "names node %q, which does not exist", id)
		return nil, false
	}
	n := &v.wf.Nodes[i]
	return n, NewSpec(n.Type) != nil
}

// nodePtr returns the pointer of a node's data field.
func (v *validator) nodePtr(n *Node, tokens ...any) string {
	return pointer(pointer("/nodes", v.byID[n.ID], "data"), tokens...)
}

func edgePtr(l Link) string { return pointer("/edges", l.Edge) }

func (v *validator) checkRoutes() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*IngressData)
		if !ok {
			continue
		}
		pathIdx := map[string]int{}
		for j, p := range d.Paths {
			pathIdx[p.ID] = j
		}
		routed := map[string]*Link{}
		for li := range v.wf.links {
			l := &v.wf.links[li]
			if l.Kind != LinkRoute || l.From != n {
				continue
			}
			if l.PathID == "" {
				l.PathID = v.guessPath(d, l.To, routed)
			}
			if l.PathID == "" {
				v.c.add(edgePtr(*l), n.ID, "ingress %q has several paths: set sourceHandle to the id of the path this edge serves", d.Name)
				continue
			}
			if _, ok := pathIdx[l.PathID]; !ok {
				v.c.add(edgePtr(*l), n.ID, "names ingress path %q, which does not exist", l.PathID)
				continue
			}
			if prev, dup := routed[l.PathID]; dup {
				v.c.add(edgePtr(*l), n.ID, "path %q is already routed by /edges/%d", l.PathID, prev.Edge)
				continue
			}
			routed[l.PathID] = l
		}
		for j, p := range d.Paths {
			l, linked := routed[p.ID]
			if !linked {
				v.unroutedPath(n, j, p)
				continue
			}
			svc := l.To.Spec.(*ServiceData)
			if p.ServiceName != "" && p.ServiceName != svc.Name {
				v.c.add(v.nodePtr(n, "paths", j, "serviceName"), n.ID, "%q contradicts the edge to service %q", p.ServiceName, svc.Name)
			}
			if p.LinkedService != "" && p.LinkedService != l.To.ID {
				v.c.add(v.nodePtr(n, "paths", j, "_linkedService"), n.ID, "%q contradicts the edge to node %q", p.LinkedService, l.To.ID)
			}
			if p.ServicePort != 0 && !contains64(v.servicePorts(l.To), p.ServicePort) {
				v.c.add(v.nodePtr(n, "paths", j, "servicePort"), n.ID, "service %q has no port %d", svc.Name, p.ServicePort)
			}
		}
	}
}

// guessPath picks the path an edge without a handle serves: the only path,
// or the only unrouted path that names the service.
func (v *validator) guessPath(d *IngressData, svc *Node, routed map[string]*Link) string {
	if len(d.Paths) == 1 {
		return d.Paths[0].ID
	}
	var match []string
	for _, p := range d.Paths {
		if _, taken := routed[p.ID]; !taken && p.ServiceName == svc.Name() {
			match = append(match, p.ID)
		}
	}
	if len(match) == 1 {
		return match[0]
	}
	return ""
}

// unroutedPath checks a path no edge serves: it may only name a service
// that is not part of the workflow.
func (v *validator) unroutedPath(n *Node, j int, p IngressPath) {
	ptr := v.nodePtr(n, "paths", j)
	if p.ServiceName == "" {
		v.c.add(ptr, n.ID, "path %q routes nowhere: draw an edge from the ingress to a service", p.Path)
		return
	}
	if other := v.nodeNamed(KindService, p.ServiceName); other != nil {
		v.c.add(pointer(ptr, "serviceName"), n.ID, "names service %q (node %q) but no edge links them", p.ServiceName, other.ID)
		return
	}
	if p.ServicePort == 0 {
		v.c.add(pointer(ptr, "servicePort"), n.ID, "is required for service %q, which is not part of the workflow", p.ServiceName)
	}
}

func (v *validator) nodeNamed(kind Kind, name string) *Node {
	return v.wf.nodeNamed(kind, name)
}

// servicePorts returns the ports a service node exposes, after defaults.
func (v *validator) servicePorts(n *Node) []int64 {
	d := n.Spec.(*ServiceData)
	if len(d.Ports) > 0 {
		out := make([]int64, len(d.Ports))
		for i, p := range d.Ports {
			out[i] = p.Port
		}
		return out
	}
	if d.Port != 0 {
		return []int64{d.Port}
	}
	for _, l := range v.wf.LinksFrom(n.ID, LinkSelect) {
		if c := l.To.Spec.(Workload).ContainerSpec(); c.Port != 0 {
			return []int64{c.Port}
		}
	}
	return nil
}

func contains64(s []int64, x int64) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

func (v *validator) checkSelects() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*ServiceData)
		if !ok {
			continue
		}
		links := v.wf.LinksFrom(n.ID, LinkSelect)
		for _, l := range links[min(1, len(links)):] {
			v.c.add(edgePtr(l), n.ID, "service %q already selects node %q; a service selects one workload", d.Name, links[0].To.ID)
		}
		if len(links) == 0 {
			if d.TargetApp != "" {
				v.c.add(v.nodePtr(n, "targetApp"), n.ID, "%q is set but no edge links the service to a workload", d.TargetApp)
			} else if d.LinkedDeployment != "" {
				v.c.add(v.nodePtr(n, "_linkedDeployment"), n.ID, "%q is set but no edge links the service to a workload", d.LinkedDeployment)
			} else if len(d.Selector) == 0 {
				v.c.add(v.nodePtr(n), n.ID, "service %q selects nothing: draw an edge to a workload or set selector", d.Name)
			}
			if d.Port == 0 && len(d.Ports) == 0 {
				v.c.add(v.nodePtr(n, "port"), n.ID, "is required")
			}
			continue
		}
		w := links[0].To
		if d.TargetApp != "" && d.TargetApp != w.Name() {
			v.c.add(v.nodePtr(n, "targetApp"), n.ID, "%q contradicts the edge to %s %q", d.TargetApp, w.Type, w.Name())
		}
		if d.LinkedDeployment != "" && d.LinkedDeployment != w.ID {
			v.c.add(v.nodePtr(n, "_linkedDeployment"), n.ID, "%q contradicts the edge to node %q", d.LinkedDeployment, w.ID)
		}
		v.subsetOf(v.nodePtr(n, "selector"), n.ID, d.Selector, w)
		if d.Port == 0 && len(d.Ports) == 0 && w.Spec.(Workload).ContainerSpec().Port == 0 {
			v.c.add(v.nodePtr(n, "port"), n.ID, "is required: the linked %s %q has no port to default to", w.Type, w.Name())
		}
	}
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*StatefulSetData)
		if !ok || d.ServiceName == "" {
			continue
		}
		svc := v.nodeNamed(KindService, d.ServiceName)
		if svc == nil {
			continue // the compiler renders a headless service
		}
		linked := false
		for _, l := range v.wf.LinksFrom(svc.ID, LinkSelect) {
			linked = linked || l.To == n
		}
		if !linked {
			v.c.add(v.nodePtr(n, "serviceName"), n.ID, "names service %q (node %q), which does not select this statefulset: draw the edge or pick another name", d.ServiceName, svc.ID)
		}
		// Replicas find each other by their per-pod DNS names, which only
		// a headless governing Service gives; one replica is reached
		// through the Service alone.
		if !svc.Spec.(*ServiceData).Headless && d.Replicas != nil && *d.Replicas > 1 {
			v.c.add(v.nodePtr(n, "serviceName"), n.ID, "names service %q (node %q), which is not headless, so the %d replicas get no DNS names of their own: set headless on it, or pick a name no service has and a headless one is rendered", d.ServiceName, svc.ID, *d.Replicas)
		}
	}
}

// subsetOf checks that a selector drawn in node data selects the pods of a
// linked workload.
func (v *validator) subsetOf(ptr, nodeID string, sel map[string]string, w *Node) {
	pods := v.wf.PodLabels(w)
	for _, k := range sortedKeys(sel) {
		if pods[k] != sel[k] {
			v.c.add(pointer(ptr, k), nodeID, "%s=%s does not select the pods of the linked %s %q", k, sel[k], w.Type, w.Name())
		}
	}
}

// editorKinds maps the volumeMounts type the editor writes to node kinds.
var editorKinds = map[string]Kind{
	"configMap":             KindConfigMap,
	"secret":                KindSecret,
	"persistentVolumeClaim": KindPersistentVolumeClaim,
}

func (v *validator) checkMounts() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		w, ok := n.Spec.(Workload)
		if !ok {
			continue
		}
		c := w.ContainerSpec()
		byNode := map[string]int{}
		for j, m := range c.VolumeMounts {
			byNode[m.NodeID] = j
		}
		linked := map[string]Kind{}
		paths := map[string]string{}
		if s, ok := n.Spec.(*StatefulSetData); ok {
			for j, t := range s.VolumeClaimTemplates {
				paths[t.MountPath] = v.nodePtr(n, "volumeClaimTemplates", j)
			}
		}
		for li := range v.wf.links {
			l := &v.wf.links[li]
			if l.To != n {
				continue
			}
			j, drawn := byNode[l.From.ID]
			switch l.Kind {
			case LinkEnvFrom:
				if drawn {
					v.c.add(v.nodePtr(n, "volumeMounts", j), n.ID, "mounts node %q, whose edge loads it as environment (handle %q)", l.From.ID, EnvFromHandle)
				}
				linked[l.From.ID] = l.From.Type
				continue
			case LinkPullSecret:
				if drawn {
					v.c.add(v.nodePtr(n, "volumeMounts", j), n.ID, "mounts node %q, a kubernetes.io/dockerconfigjson secret, which is used as image pull secret", l.From.ID)
				}
				linked[l.From.ID] = l.From.Type
				continue
			case LinkMount, LinkVolume:
				linked[l.From.ID] = l.From.Type
			default:
				continue
			}
			l.MountPath = defaultMountPath(l.From)
			if drawn {
				m := c.VolumeMounts[j]
				l.MountPath, l.SubPath, l.ReadOnly = m.MountPath, m.SubPath, m.ReadOnly
			}
			if prev, dup := paths[l.MountPath]; dup {
				v.c.add(edgePtr(*l), n.ID, "mounts %s %q at %q, which %s already uses: set a mountPath in volumeMounts", l.From.Type, l.From.Name(), l.MountPath, prev)
			}
			paths[l.MountPath] = edgePtr(*l)
		}
		for j, m := range c.VolumeMounts {
			ptr := v.nodePtr(n, "volumeMounts", j)
			kind, ok := linked[m.NodeID]
			if !ok {
				if m.NodeID != "" {
					v.c.add(pointer(ptr, "nodeId"), n.ID, "names node %q but no edge links it to this %s", m.NodeID, n.Type)
				}
				continue
			}
			if want, known := editorKinds[m.Type]; known && want != kind {
				v.c.add(pointer(ptr, "type"), n.ID, "%q contradicts node %q, a %s", m.Type, m.NodeID, kind)
			}
			if other := v.wf.NodeByID(m.NodeID); m.Name != "" && other.Name() != m.Name {
				v.c.add(pointer(ptr, "name"), n.ID, "%q contradicts node %q, named %q", m.Name, m.NodeID, other.Name())
			}
		}
		for _, lf := range []struct {
			field string
			ids   []string
			kind  Kind
		}{{"_linkedConfigMaps", c.LinkedConfigMaps, KindConfigMap}, {"_linkedSecrets", c.LinkedSecrets, KindSecret}, {"_linkedPVCs", c.LinkedPVCs, KindPersistentVolumeClaim}} {
			for j, id := range lf.ids {
				if linked[id] != lf.kind {
					v.c.add(v.nodePtr(n, lf.field, j), n.ID, "names node %q but no edge links a %s of that id to this %s", id, lf.kind, n.Type)
				}
			}
		}
	}
}

// defaultMountPath is where a linked node is mounted when the workload's
// volumeMounts do not say.
func defaultMountPath(n *Node) string {
	switch d := n.Spec.(type) {
	case *ConfigMapData:
		if d.MountPath != "" {
			return d.MountPath
		}
		return DefaultConfigMountPath
	case *SecretData:
		if d.MountPath != "" {
			return d.MountPath
		}
		return DefaultSecretMountPath
	}
	return DefaultVolumeMountPath
}

func (v *validator) checkScales() {
	scaledBy := map[*Node]*Node{}
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*HPAData)
		if !ok {
			continue
		}
		links := v.wf.LinksFrom(n.ID, LinkScale)
		switch {
		case len(links) == 0:
			v.c.canvasDefault(v.nodePtr(n), n.ID, "hpa %q scales nothing: draw an edge to a deployment or statefulset", d.Name)
			continue
		case len(links) > 1:
			v.c.add(edgePtr(links[1]), n.ID, "hpa %q already scales node %q; an hpa scales one workload", d.Name, links[0].To.ID)
		}
		w := links[0].To
		if prev, dup := scaledBy[w]; dup {
			v.c.add(edgePtr(links[0]), n.ID, "%s %q is already scaled by hpa node %q", w.Type, w.Name(), prev.ID)
		}
		scaledBy[w] = n
		v.checkUtilizationRequests(n, d, w)
		kind := map[Kind]string{KindDeployment: "Deployment", KindStatefulSet: "StatefulSet"}[w.Type]
		if d.ScaleTargetKind != "" && d.ScaleTargetKind != kind {
			v.c.add(v.nodePtr(n, "scaleTargetKind"), n.ID, "%q contradicts the edge to a %s", d.ScaleTargetKind, kind)
		}
		if d.ScaleTargetName != "" && d.ScaleTargetName != w.Name() {
			v.c.add(v.nodePtr(n, "scaleTargetName"), n.ID, "%q contradicts the edge to %s %q", d.ScaleTargetName, w.Type, w.Name())
		}
	}
}

// checkUtilizationRequests checks that a workload an hpa scales on CPU or
// memory utilisation requests that resource: utilisation is measured
// against the request, and without one the autoscaler never scales.
func (v *validator) checkUtilizationRequests(n *Node, d *HPAData, w *Node) {
	var req ResourceList
	if r := w.Spec.(Workload).ContainerSpec().Resources; r != nil && r.Requests != nil {
		req = *r.Requests
	}
	for _, m := range []struct {
		field, resource string
		target          *int64
		request         string
	}{
		{"targetCPUUtilization", "cpu", d.TargetCPUUtilization, req.CPU},
		{"targetMemoryUtilization", "memory", d.TargetMemoryUtilization, req.Memory},
	} {
		if m.target != nil && m.request == "" {
			v.c.add(v.nodePtr(n, m.field), n.ID, "%s %q (node %q) requests no %s; utilisation is measured against the request, so the autoscaler would never scale: set resources.requests.%s",
				w.Type, w.Name(), w.ID, m.resource, m.resource)
		}
	}
}

func (v *validator) checkPolicies() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*NetworkPolicyData)
		if !ok {
			continue
		}
		v.checkPeers(n, d)
		links := v.wf.LinksFrom(n.ID, LinkPolicy)
		if len(links) == 0 && d.PodSelector == nil {
			v.c.add(v.nodePtr(n), n.ID, "networkpolicy %q selects no workload and would apply to every pod of the namespace: draw an edge to the workloads it is for, or set podSelector to {} if every pod is meant", d.Name)
		}
		sort.SliceStable(links, func(a, b int) bool { return links[a].To.Name() < links[b].To.Name() })
		app := editorAppName(&LabelSelector{MatchLabels: d.PodSelector})
		for _, l := range links {
			if app != "" && slices.ContainsFunc(links, func(l Link) bool { return l.To.Name() == app }) {
				break // KubeOrch's {app: <name>} of a linked workload: the edges say it
			}
			v.subsetOf(v.nodePtr(n, "podSelector"), n.ID, d.PodSelector, l.To)
		}
	}
}

// policyRule finds the rule of a network policy with the given id and
// reports whether it is an egress rule.
func policyRule(d *NetworkPolicyData, id string) (egress, found bool) {
	for _, r := range d.IngressRules {
		if r.ID == id {
			return false, true
		}
	}
	for _, r := range d.EgressRules {
		if r.ID == id {
			return true, true
		}
	}
	return false, false
}

// checkPeers checks that the peers the editor wrote for workloads it
// linked from a rule's handle (_linkedWorkload) agree with the edges.
func (v *validator) checkPeers(n *Node, d *NetworkPolicyData) {
	linked := map[[2]string]bool{}
	for _, l := range v.wf.LinksFrom(n.ID, LinkPeer) {
		linked[[2]string{l.RuleID, l.To.ID}] = true
	}
	for _, rules := range []struct {
		field string
		rules []NetworkPolicyRule
	}{{"ingressRules", d.IngressRules}, {"egressRules", d.EgressRules}} {
		for i, r := range rules.rules {
			field, peers := r.PeerField(rules.field == "egressRules")
			for j, p := range peers {
				if p.LinkedWorkload != "" && !linked[[2]string{r.ID, p.LinkedWorkload}] {
					v.c.add(v.nodePtr(n, rules.field, i, field, j, "_linkedWorkload"), n.ID,
						"names node %q, but no edge links it from the handle of rule %q; draw the edge, or remove the peer", p.LinkedWorkload, r.ID)
				}
			}
		}
	}
}

// RulePeers returns the peers of a network policy rule as the edges drawn
// from its handle make them: each linked workload's pods, selected by
// their selector labels, in place of the peer the editor wrote for it (a
// peer whose _linkedWorkload names it, or whose podSelector is KubeOrch's
// {app: <name>} of it), then the linked workloads that had none, by name.
func (w *Workflow) RulePeers(n *Node, r NetworkPolicyRule, egress bool) []NetworkPeer {
	byID, byName := map[string]*Node{}, map[string]*Node{}
	for _, l := range w.LinksFrom(n.ID, LinkPeer) {
		if l.RuleID == r.ID && l.Egress == egress {
			byID[l.To.ID], byName[l.To.Name()] = l.To, l.To
		}
	}
	peerOf := func(wl *Node) NetworkPeer {
		return NetworkPeer{PodSelector: &LabelSelector{MatchLabels: SelectorLabels(w.Name, wl.Name())}}
	}
	_, in := r.PeerField(egress)
	var out []NetworkPeer
	done := map[*Node]bool{}
	for _, p := range in {
		wl := byID[p.LinkedWorkload]
		if wl == nil && p.LinkedWorkload == "" {
			wl = byName[editorAppName(p.PodSelector)]
		}
		switch {
		case wl == nil:
			out = append(out, p)
		case !done[wl]:
			out = append(out, peerOf(wl))
			done[wl] = true
		}
	}
	for _, name := range sortedKeys(byName) {
		if wl := byName[name]; !done[wl] {
			out = append(out, peerOf(wl))
		}
	}
	return out
}

// editorAppName returns the workload name of a selector KubeOrch's editor
// writes when an edge is drawn, {app: <name>}, or "".
func editorAppName(s *LabelSelector) string {
	if s == nil || len(s.MatchLabels) != 1 || len(s.MatchExpressions) > 0 {
		return ""
	}
	return s.MatchLabels["app"]
}

// WaitTarget returns the service name and port a workload that waits for n
// checks: a service that selects n, or the headless service a statefulset
// names. ok is false when n has no service with a port to wait on.
func (w *Workflow) WaitTarget(n *Node) (service string, port int64, ok bool) {
	for _, l := range w.links {
		if l.Kind != LinkSelect || l.To != n {
			continue
		}
		d := l.From.Spec.(*ServiceData)
		switch {
		case len(d.Ports) > 0:
			return d.Name, d.Ports[0].Port, true
		case d.Port != 0:
			return d.Name, d.Port, true
		}
		if c := n.Spec.(Workload).ContainerSpec(); c.Port != 0 {
			return d.Name, c.Port, true
		}
	}
	if s, isSTS := n.Spec.(*StatefulSetData); isSTS && s.Port != 0 {
		return s.ServiceName, s.Port, true
	}
	return "", 0, false
}

// checkAfter checks that each workload waited for has a service to wait
// on, and that waits do not form a cycle.
func (v *validator) checkAfter() {
	next := map[*Node][]*Node{}
	for _, l := range v.wf.links {
		if l.Kind != LinkAfter {
			continue
		}
		if _, _, ok := v.wf.WaitTarget(l.From); !ok {
			v.c.add(edgePtr(l), l.To.ID, "%s %q waits for %s %q, which has no service with a port to wait on", l.To.Type, l.To.Name(), l.From.Type, l.From.Name())
		}
		next[l.To] = append(next[l.To], l.From)
	}
	state := map[*Node]int{}
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		state[n] = 1
		for _, m := range next[n] {
			if state[m] == 1 || (state[m] == 0 && visit(m)) {
				return true
			}
		}
		state[n] = 2
		return false
	}
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		if state[n] == 0 && visit(n) {
			v.c.add(v.nodePtr(n), n.ID, "workloads wait for each other in a cycle; none would start")
			return
		}
	}
}
