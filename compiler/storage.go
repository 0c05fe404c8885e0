package compiler

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/slipway-gitops/slipway/workflow"
)

func renderConfigMap(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.ConfigMapData)
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Data:       d.Data,
	}
	return []object{{kind: "ConfigMap", name: d.Name, nodeID: n.ID, value: cm}}, nil
}

// renderSecret renders nothing: a Secret's values never live in git. The
// workloads that use it reference it by name and list its key names, and
// the Secret itself is supplied in the cluster (see docs/secrets.md).
func renderSecret(*renderContext, *workflow.Node) ([]object, error) { return nil, nil }

func renderPVC(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.PersistentVolumeClaimData)
	size, err := resource.ParseQuantity(d.Storage)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: accessModes(d.AccessModes),
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if d.StorageClassName != "" {
		pvc.Spec.StorageClassName = ptr.To(d.StorageClassName)
	}
	if d.VolumeMode != "" {
		pvc.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeMode(d.VolumeMode))
	}
	// A claim holds data: Flux keeps it when the node or the workflow goes
	// unless the node says otherwise.
	if !d.Prune {
		pvc.Annotations[AnnotationFluxPrune] = PruneDisabled
	}
	return []object{{kind: "PersistentVolumeClaim", name: d.Name, nodeID: n.ID, value: pvc}}, nil
}

func renderHPA(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.HPAData)
	target := rc.wf.LinksFrom(n.ID, workflow.LinkScale)[0].To
	kind := "Deployment"
	if target.Type == workflow.KindStatefulSet {
		kind = "StatefulSet"
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: target.Name()},
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

// renderPlugin renders a custom resource. Each field value goes under spec
// at the path its id gives (dots nest); fields without a value use their
// default.
func renderPlugin(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.PluginData)
	meta := objectMeta(rc.wf, n, d.Name)
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(d.APIVersion)
	u.SetKind(d.Kind)
	u.SetName(meta.Name)
	u.SetLabels(meta.Labels)
	u.SetAnnotations(meta.Annotations)
	spec := map[string]any{}
	for _, f := range d.Fields {
		v, ok := d.Values[f.ID]
		if !ok {
			v = f.Default
		}
		if v == nil {
			continue
		}
		if err := setPath(spec, strings.Split(f.ID, "."), v); err != nil {
			return nil, fmt.Errorf("plugin field %q: %w", f.ID, err)
		}
	}
	if len(spec) > 0 {
		u.Object["spec"] = spec
	}
	return []object{{kind: d.Kind, name: d.Name, nodeID: n.ID, value: u.Object}}, nil
}

func setPath(m map[string]any, path []string, v any) error {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p]
		if !ok {
			child := map[string]any{}
			m[p] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%q holds a value and cannot also hold fields", p)
		}
		m = child
	}
	last := path[len(path)-1]
	if _, taken := m[last]; taken {
		return fmt.Errorf("%q is set twice", last)
	}
	m[last] = v
	return nil
}
