package compiler

import (
	"cmp"
	"fmt"
	"slices"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/kustomize"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/slipway-gitops/slipway/workflow"
)

func renderHPA(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.HPAData)
	// A workload of the workflow, or one named by scaleTargetName that
	// Slipway does not render.
	kind, name := d.ScaleTarget(), d.ScaleTargetName
	if target, ok := rc.valid.ScaleTarget(n); ok {
		kind, name = scaledKind(target), target.Name()
	}
	if name == "" {
		return nil, fmt.Errorf("hpa %q scales nothing: draw an edge to a deployment or statefulset", d.Name)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: name},
			MinReplicas:    int32Ptr(d.MinReplicas),
			MaxReplicas:    int32(d.MaxReplicas),
		},
	}
	for _, m := range []struct {
		name   corev1.ResourceName
		target *int64
	}{{corev1.ResourceCPU, d.TargetCPUUtilization}, {corev1.ResourceMemory, d.TargetMemoryUtilization}} {
		if m.target == nil {
			continue
		}
		hpa.Spec.Metrics = append(hpa.Spec.Metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   m.name,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: int32Ptr(m.target)},
			},
		})
	}
	if d.ScaleUpStabilization != nil || d.ScaleDownStabilization != nil {
		hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		if d.ScaleUpStabilization != nil {
			hpa.Spec.Behavior.ScaleUp = &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: int32Ptr(d.ScaleUpStabilization)}
		}
		if d.ScaleDownStabilization != nil {
			hpa.Spec.Behavior.ScaleDown = &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: int32Ptr(d.ScaleDownStabilization)}
		}
	}
	return []object{{kind: "HorizontalPodAutoscaler", name: d.Name, nodeID: n.ID, value: hpa}}, nil
}

// scaledKind is the kind of the object rendered for a workload an hpa
// scales.
func scaledKind(n *workflow.Node) string {
	if n.Type == workflow.KindStatefulSet {
		return "StatefulSet"
	}
	return "Deployment"
}

// replicas returns the replica count workload n renders with, r when it
// has one. A workload an hpa scales keeps a count, the hpa's minReplicas
// when it has none: leaving spec.replicas out of what Flux applies would
// make the API server remove the field, which only Flux managed, and
// default it to 1 until the HPA acts (kubernetes#67135). The workflow's
// Kustomization ignores the field instead (replicasIgnored), so the count
// is applied when the workload is created and the HPA's count after that.
func (rc *renderContext) replicas(n *workflow.Node, r *int64) *int32 {
	if r == nil {
		for _, l := range rc.valid.LinksTo(n.ID, workflow.LinkScale) {
			r = cmp.Or(l.From.Spec.(*workflow.HPAData).MinReplicas, ptr.To[int64](1))
		}
	}
	return int32Ptr(r)
}

// replicasIgnored returns the ignore rules of a workflow's Flux
// Kustomization (kustomize-controller v1.9 and later) that hand
// spec.replicas of each workload an hpa scales to the HPA: Flux's drift
// detection skips the field, and when Flux applies the workload it
// applies the count the cluster has in place of the rendered one, so
// Flux and the autoscaler never set it back and forth. Sorted by kind and
// name.
func replicasIgnored(valid *workflow.Valid) []kustomizev1.IgnoreRule {
	var targets []kustomize.Selector
	for _, l := range valid.Links() {
		if l.Kind == workflow.LinkScale {
			targets = append(targets, kustomize.Selector{Group: "apps", Version: "v1", Kind: scaledKind(l.To), Name: l.To.Name()})
		}
	}
	slices.SortFunc(targets, func(a, b kustomize.Selector) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	targets = slices.Compact(targets)
	var out []kustomizev1.IgnoreRule
	for _, t := range targets {
		out = append(out, kustomizev1.IgnoreRule{Paths: []string{"/spec/replicas"}, Target: &t})
	}
	return out
}
