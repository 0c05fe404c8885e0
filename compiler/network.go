package compiler

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/slipway-gitops/slipway/workflow"
)

func renderService(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.ServiceData)
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceType(d.ServiceType),
			Selector:        d.Selector,
			SessionAffinity: corev1.ServiceAffinity(d.SessionAffinity),
		},
	}
	if d.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	var workloadPort int64
	switch links := rc.valid.LinksFrom(n.ID, workflow.LinkSelect); {
	case len(links) > 0:
		w := links[0].To
		svc.Spec.Selector = workflow.SelectorLabels(rc.wf.Name, w.Name())
		workloadPort = containerOf(w).Port
	case len(d.Selector) == 0 && d.TargetApp != "":
		// A workload Slipway does not render, by the label KubeOrch's
		// templates give pods.
		svc.Spec.Selector = map[string]string{"app": d.TargetApp}
	}
	if len(d.Ports) == 0 {
		// KubeOrch's defaults: a port the service does not give is the
		// workload's, and a null targetPort is the port.
		port, target := d.Port, d.TargetPort
		if port == 0 {
			port = workloadPort
		}
		if target == 0 {
			target = port
		}
		svc.Spec.Ports = []corev1.ServicePort{{Port: int32(port), TargetPort: intstr.FromInt32(int32(target))}}
	}
	for _, p := range d.Ports {
		target := p.TargetPort
		if target == 0 {
			target = p.Port
		}
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Protocol: corev1.Protocol(p.Protocol), Port: int32(p.Port),
			TargetPort: intstr.FromInt32(int32(target)), NodePort: int32(p.NodePort),
		})
	}
	return []object{{kind: "Service", name: d.Name, nodeID: n.ID, value: svc}}, nil
}

func containerOf(n *workflow.Node) *workflow.Container {
	return n.Spec.(workflow.Workload).ContainerSpec()
}

func renderIngress(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.IngressData)
	routes := map[string]*workflow.Node{}
	for _, l := range rc.valid.LinksFrom(n.ID, workflow.LinkRoute) {
		routes[l.PathID] = l.To
	}
	rule := networkingv1.HTTPIngressRuleValue{}
	for _, p := range d.Paths {
		pathType := networkingv1.PathTypePrefix
		if p.PathType != "" {
			pathType = networkingv1.PathType(p.PathType)
		}
		svcName, port := p.ServiceName, p.ServicePort
		if svc, ok := routes[p.ID]; ok {
			svcName = svc.Name()
			if port == 0 {
				port = firstServicePort(rc, svc)
			}
		}
		rule.Paths = append(rule.Paths, networkingv1.HTTPIngressPath{
			Path:     p.Path,
			PathType: &pathType,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: svcName, Port: networkingv1.ServiceBackendPort{Number: int32(port)},
			}},
		})
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{Host: d.Host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &rule}}},
		},
	}
	if d.IngressClassName != "" {
		ing.Spec.IngressClassName = ptr.To(d.IngressClassName)
	}
	if d.TLSEnabled {
		hosts := d.TLSHosts
		if len(hosts) == 0 && d.Host != "" {
			hosts = []string{d.Host}
		}
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: hosts, SecretName: d.TLSSecretName}}
	}
	return []object{{kind: "Ingress", name: d.Name, nodeID: n.ID, value: ing}}, nil
}

// firstServicePort is the port an ingress path uses when it names none.
func firstServicePort(rc *renderContext, svc *workflow.Node) int64 {
	d := svc.Spec.(*workflow.ServiceData)
	switch {
	case len(d.Ports) > 0:
		return d.Ports[0].Port
	case d.Port != 0:
		return d.Port
	}
	for _, l := range rc.valid.LinksFrom(svc.ID, workflow.LinkSelect) {
		return containerOf(l.To).Port
	}
	return 0
}

func renderNetworkPolicy(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.NetworkPolicyData)
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: d.PodSelector},
		},
	}
	var names []string
	for _, l := range rc.valid.LinksFrom(n.ID, workflow.LinkPolicy) {
		names = append(names, l.To.Name())
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
	case 1:
		np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: workflow.SelectorLabels(rc.wf.Name, names[0])}
	default:
		np.Spec.PodSelector = metav1.LabelSelector{
			MatchLabels: map[string]string{workflow.LabelPartOf: rc.wf.Name},
			MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: workflow.LabelName, Operator: metav1.LabelSelectorOpIn, Values: names,
			}},
		}
	}
	for _, t := range d.PolicyTypes {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyType(t))
	}
	for _, r := range d.IngressRules {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: peers(rc.valid.RulePeers(n, r, false)), Ports: policyPorts(r.Ports)})
	}
	for _, r := range d.EgressRules {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: peers(rc.valid.RulePeers(n, r, true)), Ports: policyPorts(r.Ports)})
	}
	return []object{{kind: "NetworkPolicy", name: d.Name, nodeID: n.ID, value: np}}, nil
}

func peers(in []workflow.NetworkPeer) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for _, p := range in {
		peer := networkingv1.NetworkPolicyPeer{
			PodSelector:       labelSelector(p.PodSelector),
			NamespaceSelector: labelSelector(p.NamespaceSelector),
		}
		if p.IPBlock != nil {
			peer.IPBlock = &networkingv1.IPBlock{CIDR: p.IPBlock.CIDR, Except: p.IPBlock.Except}
		}
		out = append(out, peer)
	}
	return out
}

func labelSelector(s *workflow.LabelSelector) *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	if out.MatchLabels == nil && len(s.MatchExpressions) == 0 {
		out.MatchLabels = map[string]string{} // {}: every pod or namespace
	}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values,
		})
	}
	return out
}

func policyPorts(in []workflow.NetworkPolicyPort) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, p := range in {
		proto := corev1.ProtocolTCP
		if p.Protocol != "" {
			proto = corev1.Protocol(p.Protocol)
		}
		pp := networkingv1.NetworkPolicyPort{Protocol: &proto}
		switch {
		case p.Port.Name != "":
			pp.Port = ptr.To(intstr.FromString(p.Port.Name))
		case p.Port.Number != 0:
			pp.Port = ptr.To(intstr.FromInt32(int32(p.Port.Number)))
		}
		if p.EndPort != 0 {
			pp.EndPort = ptr.To(int32(p.EndPort))
		}
		out = append(out, pp)
	}
	return out
}
