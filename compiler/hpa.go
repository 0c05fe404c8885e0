package compiler

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/workflow"
)

func renderHPA(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.HPAData)
	// A workload of the workflow, or one named by scaleTargetName that
	// Slipway does not render.
	kind, name := d.ScaleTarget(), d.ScaleTargetName
	if target, ok := rc.valid.ScaleTarget(n); ok {
		kind, name = "Deployment", target.Name()
		if target.Type == workflow.KindStatefulSet {
			kind = "StatefulSet"
		}
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
