package workflow

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
	// Edge is the index of the edge in the workflow's edges, or -1 for a
	// link typed in node data without an edge (see Field).
	Edge int
	// Field is the JSON pointer of the node data field that names the
	// linked node, for a link made without an edge: KubeOrch's settings
	// panel links a service's targetApp, an ingress path's serviceName and
	// an hpa's scaleTargetName by name.
	Field string
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

// Valid is a validated workflow: its nodes and the links its edges
// resolve to, with every value of each link computed. Only validation
// makes one (see Workflow.Validated), so what the checks guarantee holds for
// it; the compiler renders Valid workflows only.
type Valid struct {
	wf    *Workflow
	links []Link
}

// Validated returns the workflow with its links resolved, when Decode
// (or Validate) accepted it; for a workflow not validated, nil.
func (w *Workflow) Validated() *Valid { return w.valid }

// Workflow returns the workflow.
func (g *Valid) Workflow() *Workflow { return g.wf }

// Links returns every link, in edge order.
func (g *Valid) Links() []Link { return g.links }

// LinksTo returns the links of a kind whose To is the node with id.
func (g *Valid) LinksTo(id string, kind LinkKind) []Link {
	return g.linksWhere(kind, func(l Link) bool { return l.To.ID == id })
}

// LinksFrom returns the links of a kind whose From is the node with id.
func (g *Valid) LinksFrom(id string, kind LinkKind) []Link {
	return g.linksWhere(kind, func(l Link) bool { return l.From.ID == id })
}

func (g *Valid) linksWhere(kind LinkKind, match func(Link) bool) []Link {
	var out []Link
	for _, l := range g.links {
		if l.Kind == kind && match(l) {
			out = append(out, l)
		}
	}
	return out
}

// ScaleTarget returns the workload of the workflow an hpa node scales. ok
// is false for a draft, whose hpa may yet scale nothing, and for an hpa
// whose scaleTargetName names a workload Slipway does not render.
func (g *Valid) ScaleTarget(hpa *Node) (target *Node, ok bool) {
	for _, l := range g.links {
		if l.Kind == LinkScale && l.From == hpa {
			return l.To, true
		}
	}
	return nil, false
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

// RulePeers returns the peers of a network policy rule as the edges drawn
// from its handle make them: each linked workload's pods, selected by
// their selector labels, in place of the peer the editor wrote for it (a
// peer whose _linkedWorkload names it, or whose podSelector is KubeOrch's
// {app: <name>} of it), then the linked workloads that had none, by name.
func (g *Valid) RulePeers(n *Node, r NetworkPolicyRule, egress bool) []NetworkPeer {
	byID, byName := map[string]*Node{}, map[string]*Node{}
	for _, l := range g.LinksFrom(n.ID, LinkPeer) {
		if l.RuleID == r.ID && l.Egress == egress {
			byID[l.To.ID], byName[l.To.Name()] = l.To, l.To
		}
	}
	peerOf := func(wl *Node) NetworkPeer {
		return NetworkPeer{PodSelector: &LabelSelector{MatchLabels: SelectorLabels(g.wf.Name, wl.Name())}}
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
func (g *Valid) WaitTarget(n *Node) (service string, port int64, ok bool) {
	for _, l := range g.links {
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
