package workflow

import "slices"

// resolveLinks makes the workflow's Valid: it turns every edge into a Link,
// reporting the edges that make none, then computes the values an edge
// leaves open (resolveRoutes, resolveMounts). It decides values only; the
// checks of checklinks.go report what is wrong with them.
func (v *validator) resolveLinks() {
	v.valid = &Valid{wf: v.wf}
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
		v.valid.links = append(v.valid.links, l)
	}
	v.valid.resolveRoutes()
	v.resolveNamedLinks()
	v.valid.resolveMounts()
}

// resolveNamedLinks makes the links KubeOrch's settings panel types into
// node data without drawing an edge: a service's targetApp, an ingress
// path's serviceName and an hpa's scaleTargetName, each the object name
// of a node of the workflow. A field whose node has a link of that kind
// drawn is checked against it instead (checklinks.go); a name no node has
// refers to an object Slipway does not render, which checkLinks warns of.
func (v *validator) resolveNamedLinks() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		switch d := n.Spec.(type) {
		case *ServiceData:
			if len(v.valid.LinksFrom(n.ID, LinkSelect)) == 0 {
				v.linkByName(n, d.TargetApp, "", v.nodePtr(n, "targetApp"))
			}
		case *HPAData:
			if len(v.valid.LinksFrom(n.ID, LinkScale)) == 0 {
				v.linkByName(n, d.ScaleTargetName, d.ScaleTargetKind, v.nodePtr(n, "scaleTargetName"))
			}
		case *IngressData:
			routed := map[string]bool{}
			for _, l := range v.valid.LinksFrom(n.ID, LinkRoute) {
				routed[l.PathID] = true
			}
			for j, p := range d.Paths {
				if routed[p.ID] || p.ID == "" {
					continue
				}
				if l := v.linkByName(n, p.ServiceName, "", v.nodePtr(n, "paths", j, "serviceName")); l != nil {
					l.PathID = p.ID
				}
			}
		}
	}
}

// linkByName links node from to the node of the workflow whose object
// name is name and that from may link (of the Kubernetes kind object,
// when given), if there is one; field is where from's data names it. It
// returns the link, or nil.
func (v *validator) linkByName(from *Node, name, object, field string) *Link {
	if name == "" {
		return nil
	}
	for i := range v.wf.Nodes {
		to := &v.wf.Nodes[i]
		kind, ok := linkKind(from.Type, to.Type)
		if !ok || to == from || to.Spec == nil || to.Name() != name || (object != "" && to.Type.spec().object != object) {
			continue
		}
		v.valid.links = append(v.valid.links, Link{Kind: kind, From: from, To: to, Edge: -1, Field: field})
		return &v.valid.links[len(v.valid.links)-1]
	}
	return nil
}

// resolveRoutes gives each route drawn without a handle the ingress path
// it serves (see guessPath). Routes are taken in edge order: a path is
// served by the first route that names it.
func (g *Valid) resolveRoutes() {
	for i := range g.wf.Nodes {
		n := &g.wf.Nodes[i]
		d, ok := n.Spec.(*IngressData)
		if !ok {
			continue
		}
		routed := map[string]*Link{}
		for li := range g.links {
			l := &g.links[li]
			if l.Kind != LinkRoute || l.From != n {
				continue
			}
			if l.PathID == "" {
				l.PathID = guessPath(d, l.To, routed)
			}
			if _, taken := routed[l.PathID]; !taken && hasPath(d, l.PathID) {
				routed[l.PathID] = l
			}
		}
	}
}

// hasPath reports whether an ingress has a path of the given id.
func hasPath(d *IngressData, id string) bool {
	return id != "" && slices.ContainsFunc(d.Paths, func(p IngressPath) bool { return p.ID == id })
}

// resolveMounts says where each mount and volume link goes: where the
// workload's volumeMounts entry for the linked node says, or else the
// linked node's default (defaultMountPath).
func (g *Valid) resolveMounts() {
	for li := range g.links {
		l := &g.links[li]
		if l.Kind != LinkMount && l.Kind != LinkVolume {
			continue
		}
		l.MountPath = defaultMountPath(l.From)
		if j, drawn := volumeMount(l.To, l.From.ID); drawn {
			m := l.To.Spec.(Workload).ContainerSpec().VolumeMounts[j]
			l.MountPath, l.SubPath, l.ReadOnly = m.MountPath, m.SubPath, m.ReadOnly
		}
	}
}

// volumeMount returns the index of the last entry of a workload's
// volumeMounts that names the node with id.
func volumeMount(w *Node, id string) (int, bool) {
	ms := w.Spec.(Workload).ContainerSpec().VolumeMounts
	for j := len(ms) - 1; j >= 0; j-- {
		if ms[j].NodeID == id {
			return j, true
		}
	}
	return -1, false
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
	return n, n.Type.spec() != nil
}

// guessPath picks the path an edge without a handle serves: the only path,
// or the only unrouted path that names the service.
func guessPath(d *IngressData, svc *Node, routed map[string]*Link) string {
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
