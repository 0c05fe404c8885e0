package compiler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// the Secret itself is supplied in the cluster (see docs/secrets.md). A
// node with a sopsFile renders that file, its ciphertext as it is, which
// Flux decrypts when it applies it (see sopsDecryption).
func renderSecret(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.SecretData)
	if d.SopsFile == "" {
		return nil, nil
	}
	b, ok := rc.files[d.SopsFile]
	if !ok {
		return nil, fmt.Errorf("%s does not exist", d.SopsFile)
	}
	return []object{{kind: "Secret", name: d.Name, nodeID: n.ID, raw: b}}, nil
}

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
