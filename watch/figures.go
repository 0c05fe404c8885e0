package watch

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Figures are what an object's kind counts and addresses, as kubectl get
// prints them: each is set only for the kinds that have it, and a nil
// Figures is an object with none (a ConfigMap).
type Figures struct {
	// ReadyReplicas and DesiredReplicas are a Deployment's or
	// StatefulSet's ready pods and spec.replicas, a DaemonSet's ready and
	// scheduled pods; with CurrentReplicas, DesiredReplicas is also an
	// HorizontalPodAutoscaler's count, which it wants, of the pods it has.
	ReadyReplicas   *int64 `json:"ready_replicas,omitempty"`
	CurrentReplicas *int64 `json:"current_replicas,omitempty"`
	DesiredReplicas *int64 `json:"desired_replicas,omitempty"`
	// ClusterIP, NodePorts and ExternalIPs are a Service's: its
	// spec.clusterIP ("None" for a headless one), the node ports of its
	// ports, and its spec.externalIPs with its load balancer's addresses.
	ClusterIP   string   `json:"cluster_ip,omitempty"`
	NodePorts   []int64  `json:"node_ports,omitempty"`
	ExternalIPs []string `json:"external_ips,omitempty"`
	// ReadyEndpoints counts the ready endpoints of a Service with a
	// selector. None is no failure (a one-replica database restarting),
	// so it is a figure, not a health.
	ReadyEndpoints *int64 `json:"ready_endpoints,omitempty"`
	// Addresses are an Ingress's load-balancer addresses (IP or host
	// name); none is assigned on a cluster without an ingress controller.
	Addresses []string `json:"addresses,omitempty"`
	// Capacity and Phase are a PersistentVolumeClaim's status.capacity
	// storage ("10Gi") and status.phase.
	Capacity string `json:"capacity,omitempty"`
	Phase    string `json:"phase,omitempty"`
	// Succeeded and Failed count a Job's pods.
	Succeeded *int64 `json:"succeeded,omitempty"`
	Failed    *int64 `json:"failed,omitempty"`
	// LastSchedule and LastSuccess are when a CronJob last started a
	// Job and when one last succeeded (RFC 3339), as Kubernetes wrote
	// them; its Jobs are its own and not shown.
	LastSchedule string `json:"last_schedule,omitempty"`
	LastSuccess  string `json:"last_success,omitempty"`
}

// FiguresOf returns an object's figures, nil for a kind without any.
// readyEndpoints is a Service's count of ready endpoints, ignored for
// other kinds and for a Service without a selector or of type
// ExternalName, which has no endpoints of its own.
func FiguresOf(u *unstructured.Unstructured, readyEndpoints int) *Figures {
	obj := u.Object
	switch u.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps", "StatefulSet.apps":
		return &Figures{ReadyReplicas: count(obj, 0, "status", "readyReplicas"), DesiredReplicas: count(obj, 1, "spec", "replicas")}
	case "DaemonSet.apps":
		return &Figures{ReadyReplicas: count(obj, 0, "status", "numberReady"), DesiredReplicas: count(obj, 0, "status", "desiredNumberScheduled")}
	case "HorizontalPodAutoscaler.autoscaling":
		return &Figures{CurrentReplicas: count(obj, 0, "status", "currentReplicas"), DesiredReplicas: count(obj, 0, "status", "desiredReplicas")}
	case "Service":
		return serviceFigures(u, readyEndpoints)
	case "Ingress.networking.k8s.io":
		if lb := loadBalancer(obj); len(lb) > 0 {
			return &Figures{Addresses: lb}
		}
	case "PersistentVolumeClaim":
		f := &Figures{}
		f.Capacity, _, _ = unstructured.NestedString(obj, "status", "capacity", "storage")
		f.Phase, _, _ = unstructured.NestedString(obj, "status", "phase")
		return f
	case "Job.batch":
		return &Figures{Succeeded: count(obj, 0, "status", "succeeded"), Failed: count(obj, 0, "status", "failed")}
	case "CronJob.batch":
		f := &Figures{}
		f.LastSchedule, _, _ = unstructured.NestedString(obj, "status", "lastScheduleTime")
		f.LastSuccess, _, _ = unstructured.NestedString(obj, "status", "lastSuccessfulTime")
		if f.LastSchedule != "" || f.LastSuccess != "" {
			return f
		}
	}
	return nil
}

func serviceFigures(u *unstructured.Unstructured, readyEndpoints int) *Figures {
	obj := u.Object
	f := &Figures{}
	f.ClusterIP, _, _ = unstructured.NestedString(obj, "spec", "clusterIP")
	ports, _, _ := unstructured.NestedSlice(obj, "spec", "ports")
	for _, p := range ports {
		if m, ok := p.(map[string]any); ok {
			if n, _, _ := unstructured.NestedInt64(m, "nodePort"); n > 0 {
				f.NodePorts = append(f.NodePorts, n)
			}
		}
	}
	f.ExternalIPs, _, _ = unstructured.NestedStringSlice(obj, "spec", "externalIPs")
	f.ExternalIPs = append(f.ExternalIPs, loadBalancer(obj)...)
	typ, _, _ := unstructured.NestedString(obj, "spec", "type")
	sel, _, _ := unstructured.NestedMap(obj, "spec", "selector")
	if typ != "ExternalName" && len(sel) > 0 && readyEndpoints >= 0 {
		n := int64(readyEndpoints)
		f.ReadyEndpoints = &n
	}
	return f
}

// loadBalancer returns the addresses in an object's
// status.loadBalancer.ingress.
func loadBalancer(obj map[string]any) []string {
	lb, _, _ := unstructured.NestedSlice(obj, "status", "loadBalancer", "ingress")
	var out []string
	for _, e := range lb {
		m, _ := e.(map[string]any)
		for _, k := range []string{"ip", "hostname"} {
			if s, _ := m[k].(string); s != "" {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// count returns the integer at fields, or def when there is none.
func count(obj map[string]any, def int64, fields ...string) *int64 {
	n, found, err := unstructured.NestedInt64(obj, fields...)
	if !found || err != nil {
		n = def
	}
	return &n
}

// Summary says the figures in a few words, as the status page shows them
// on a node: "2/3 ready", "10.96.0.10 :30080 · 2 ready endpoints",
// "10Gi Bound"; "" for none.
func (f *Figures) Summary() string {
	if f == nil {
		return ""
	}
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	switch {
	case f.ReadyReplicas != nil && f.DesiredReplicas != nil:
		add("%d/%d ready", *f.ReadyReplicas, *f.DesiredReplicas)
	case f.CurrentReplicas != nil && f.DesiredReplicas != nil:
		add("%d → %d replicas", *f.CurrentReplicas, *f.DesiredReplicas)
	}
	if f.ClusterIP != "" {
		ip := f.ClusterIP
		for _, p := range f.NodePorts {
			ip += fmt.Sprintf(" :%d", p)
		}
		parts = append(parts, ip)
	}
	if len(f.ExternalIPs) > 0 {
		add("external %s", strings.Join(f.ExternalIPs, ", "))
	}
	if f.ReadyEndpoints != nil {
		add("%d ready endpoints", *f.ReadyEndpoints)
	}
	if len(f.Addresses) > 0 {
		add("at %s", strings.Join(f.Addresses, ", "))
	}
	if s := strings.TrimSpace(f.Capacity + " " + f.Phase); s != "" {
		parts = append(parts, s)
	}
	if f.Succeeded != nil && f.Failed != nil {
		add("%d succeeded, %d failed", *f.Succeeded, *f.Failed)
	}
	if f.LastSchedule != "" {
		add("last scheduled %s", f.LastSchedule)
	}
	if f.LastSuccess != "" {
		add("last succeeded %s", f.LastSuccess)
	}
	return strings.Join(parts, " · ")
}

// Figures returns the summaries of the node's objects' figures, joined;
// "" when none has any.
func (n Node) Figures() string {
	var parts []string
	for _, o := range n.Objects {
		if s := o.Figures.Summary(); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}
