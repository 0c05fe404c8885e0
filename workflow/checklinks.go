package workflow

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The checks below report what is wrong with the links of a workflow and
// with the copies of them that editors keep in node data. They decide no
// value: resolve.go does.

// checkLinks checks the links resolveLinks made.
func (v *validator) checkLinks() {
	v.checkRoutes()
	v.checkSelects()
	v.checkMounts()
	v.checkScales()
	v.checkPolicies()
	v.checkAfter()
}

// nodePtr returns the pointer of a node's data field.
func (v *validator) nodePtr(n *Node, tokens ...any) string {
	return pointer(pointer("/nodes", v.byID[n.ID], "data"), tokens...)
}

// edgePtr returns the pointer of what made a link: its edge, or the
// node data field that names the linked node.
func edgePtr(l Link) string {
	if l.Field != "" {
		return l.Field
	}
	return pointer("/edges", l.Edge)
}

func (v *validator) checkRoutes() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*IngressData)
		if !ok {
			continue
		}
		routed := map[string]Link{}
		for _, l := range v.valid.links {
			if l.Kind != LinkRoute || l.From != n {
				continue
			}
			switch prev, dup := routed[l.PathID]; {
			case l.PathID == "":
				v.c.add(edgePtr(l), n.ID, "ingress %q has several paths: set sourceHandle to the id of the path this edge serves", d.Name)
			case !hasPath(d, l.PathID):
				v.c.add(edgePtr(l), n.ID, "names ingress path %q, which does not exist", l.PathID)
			case dup:
				v.c.add(edgePtr(l), n.ID, "path %q is already routed by %s", l.PathID, edgePtr(prev))
			default:
				routed[l.PathID] = l
			}
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

// unroutedPath checks a path no link serves: it may only name a service
// that is not part of the workflow, which it routes to as it is.
func (v *validator) unroutedPath(n *Node, j int, p IngressPath) {
	ptr := v.nodePtr(n, "paths", j)
	if p.ServiceName == "" {
		v.c.add(ptr, n.ID, "path %q routes nowhere: draw an edge from the ingress to a service", p.Path)
		return
	}
	if p.ServicePort == 0 {
		v.c.add(pointer(ptr, "servicePort"), n.ID, "is required for service %q, which is not part of the workflow", p.ServiceName)
		return
	}
	v.c.warn(pointer(ptr, "serviceName"), n.ID, "names service %q, which is not part of the workflow: the path routes to it, and Slipway does not render it", p.ServiceName)
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
	for _, l := range v.valid.LinksFrom(n.ID, LinkSelect) {
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
		links := v.valid.LinksFrom(n.ID, LinkSelect)
		for _, l := range links[min(1, len(links)):] {
			v.c.add(edgePtr(l), n.ID, "service %q already selects node %q; a service selects one workload", d.Name, links[0].To.ID)
		}
		if len(links) == 0 {
			if d.TargetApp != "" {
				v.externalTargetApp(n, d)
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
		for _, l := range v.valid.LinksFrom(svc.ID, LinkSelect) {
			linked = linked || l.To == n
		}
		if !linked {
			v.c.add(v.nodePtr(n, "serviceName"), n.ID, "names service %q (node %q), which does not select this statefulset: draw the edge or pick another name", d.ServiceName, svc.ID)
		}
		// Replicas find each other by their per-pod DNS names, which only
		// a headless governing Service gives; one replica is reached
		// through the Service alone. The pods run either way (KubeOrch
		// renders them so), hence a warning.
		if !svc.Spec.(*ServiceData).Headless && d.Replicas != nil && *d.Replicas > 1 {
			v.c.warn(v.nodePtr(n, "serviceName"), n.ID, "names service %q (node %q), which is not headless, so the %d replicas get no DNS names of their own: set headless on it, or pick a name no service has and a headless one is rendered", d.ServiceName, svc.ID, *d.Replicas)
		}
	}
}

// externalTargetApp warns of a service whose targetApp names no workload
// of the workflow: it selects pods Slipway does not render, by KubeOrch's
// label app=<targetApp> unless it has a selector.
func (v *validator) externalTargetApp(n *Node, d *ServiceData) {
	if len(d.Selector) > 0 {
		v.c.warn(v.nodePtr(n, "targetApp"), n.ID, "%q names no workload of the workflow; the service selects what selector says", d.TargetApp)
		return
	}
	v.c.warn(v.nodePtr(n, "targetApp"), n.ID, "%q names no workload of the workflow: the service selects the pods labelled app=%s, which Slipway does not render", d.TargetApp, d.TargetApp)
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

// checkMounts checks the links that mount nodes into workloads or load
// them as environment, and the copies of them editors keep in workload
// data.
func (v *validator) checkMounts() {
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		if w, ok := n.Spec.(Workload); ok {
			linked := map[string]Kind{}
			v.checkMountLinks(n, linked)
			v.checkEditorMounts(n, w.ContainerSpec(), linked)
		}
	}
}

// checkMountLinks checks the links into workload n that mount a node or
// load it as environment; it records the kinds of the nodes they link in
// linked, by node id.
func (v *validator) checkMountLinks(n *Node, linked map[string]Kind) {
	paths, claims := map[string]string{}, map[string]string{}
	if s, ok := n.Spec.(*StatefulSetData); ok {
		for j, t := range s.VolumeClaimTemplates {
			paths[t.Path()] = v.nodePtr(n, "volumeClaimTemplates", j)
			claims[t.Name] = v.nodePtr(n, "volumeClaimTemplates", j)
		}
	}
	for j, m := range n.Spec.(Workload).ContainerSpec().VolumeMounts {
		if m.Type != VolumeEmptyDir {
			continue
		}
		paths[m.MountPath] = v.nodePtr(n, "volumeMounts", j)
		if prev, dup := claims[m.Name]; dup {
			v.c.add(v.nodePtr(n, "volumeMounts", j, "name"), n.ID, "%q also names the volume claim template at %s", m.Name, prev)
		}
	}
	for _, l := range v.valid.links {
		if l.To != n {
			continue
		}
		j, drawn := volumeMount(n, l.From.ID)
		switch l.Kind {
		case LinkEnvFrom:
			if drawn {
				v.c.add(v.nodePtr(n, "volumeMounts", j), n.ID, "mounts node %q, whose edge loads it as environment (handle %q)", l.From.ID, EnvFromHandle)
			}
		case LinkPullSecret:
			// KubeOrch's canvas writes a mount for every secret it links;
			// a registry secret is the pod's image pull secret instead.
			if drawn {
				v.c.ignored = append(v.c.ignored, Ignored{Pointer: v.nodePtr(n, "volumeMounts", j), NodeID: n.ID,
					Reason: fmt.Sprintf("the editor's mount of node %q, a kubernetes.io/dockerconfigjson secret: it is the image pull secret, not mounted", l.From.ID)})
			}
		case LinkMount, LinkVolume:
			if prev, dup := paths[l.MountPath]; dup {
				v.c.add(edgePtr(l), n.ID, "mounts %s %q at %q, which %s already uses: set a mountPath in volumeMounts", l.From.Type, l.From.Name(), l.MountPath, prev)
			}
			paths[l.MountPath] = edgePtr(l)
		default:
			continue
		}
		linked[l.From.ID] = l.From.Type
	}
}

// checkEditorMounts checks that the volumeMounts and the _linked lists of
// a workload's data agree with the links of checkMountLinks.
func (v *validator) checkEditorMounts(n *Node, c *Container, linked map[string]Kind) {
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

func (v *validator) checkScales() {
	scaledBy := map[*Node]*Node{}
	for i := range v.wf.Nodes {
		n := &v.wf.Nodes[i]
		d, ok := n.Spec.(*HPAData)
		if !ok {
			continue
		}
		links := v.valid.LinksFrom(n.ID, LinkScale)
		switch {
		case len(links) == 0 && d.ScaleTargetName != "":
			v.c.warn(v.nodePtr(n, "scaleTargetName"), n.ID, "%q names no %s of the workflow: the hpa scales the %s of that name, which Slipway does not render",
				d.ScaleTargetName, strings.ToLower(d.ScaleTarget()), d.ScaleTarget())
			continue
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
		kind := w.Type.spec().object // a Deployment or StatefulSet: the link rule of hpa says so
		if d.ScaleTargetKind != "" && d.ScaleTargetKind != kind {
			v.c.add(v.nodePtr(n, "scaleTargetKind"), n.ID, "%q contradicts the edge to a %s", d.ScaleTargetKind, kind)
		}
		if d.ScaleTargetName != "" && d.ScaleTargetName != w.Name() {
			v.c.add(v.nodePtr(n, "scaleTargetName"), n.ID, "%q contradicts the edge to %s %q", d.ScaleTargetName, w.Type, w.Name())
		}
	}
}

// checkUtilizationRequests warns when a workload an hpa scales on CPU or
// memory utilisation requests no such resource: utilisation is measured
// against the request, and without one the autoscaler does not scale on
// it. The objects are valid (KubeOrch renders them), so it is no error.
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
			v.c.warn(v.nodePtr(n, m.field), n.ID, "%s %q (node %q) requests no %s; utilisation is measured against the request, so the autoscaler will not scale on it: set resources.requests.%s",
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
		links := v.valid.LinksFrom(n.ID, LinkPolicy)
		if len(links) == 0 && d.PodSelector == nil {
			v.c.add(v.nodePtr(n), n.ID, "networkpolicy %q selects no workload and would apply to every pod of the namespace: draw an edge to the workloads it is for, or set podSelector to {} if every pod is meant", d.Name)
		}
		if len(links) == 0 || len(d.PodSelector) == 0 {
			continue
		}
		app := editorAppName(&LabelSelector{MatchLabels: d.PodSelector})
		if app != "" && slices.ContainsFunc(links, func(l Link) bool { return l.To.Name() == app }) {
			continue // KubeOrch's {app: <name>} of a linked workload: the edges say it
		}
		names := make([]string, len(links))
		for i, l := range links {
			names[i] = l.To.Name()
		}
		sort.Strings(names)
		v.c.warn(v.nodePtr(n, "podSelector"), n.ID, "is not rendered: the policy applies to the pods of %s, which its edges link; remove podSelector, or the edges to select pods by it", quoteList(names))
	}
}

// checkPeers checks that the peers the editor wrote for workloads it
// linked from a rule's handle (_linkedWorkload) agree with the edges.
func (v *validator) checkPeers(n *Node, d *NetworkPolicyData) {
	linked := map[[2]string]bool{}
	for _, l := range v.valid.LinksFrom(n.ID, LinkPeer) {
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

// checkAfter checks that each workload waited for has a service to wait
// on, and that waits do not form a cycle.
func (v *validator) checkAfter() {
	next := map[*Node][]*Node{}
	for _, l := range v.valid.links {
		if l.Kind != LinkAfter {
			continue
		}
		if _, _, ok := v.valid.WaitTarget(l.From); !ok {
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
