package kubetest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CertificateCRD is the part of cert-manager's Certificate definition that
// the sample repository's plugin node (fixtures/repo) uses, with its types: the apiserver refuses a
// dnsNames that is not a list of strings or an issuerRef that is not an
// object with a name, as the real CRD does.
var CertificateCRD = []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certificates.cert-manager.io
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [issuerRef, secretName]
            properties:
              secretName: {type: string}
              dnsNames: {type: array, items: {type: string}}
              duration: {type: string}
              revisionHistoryLimit: {type: integer}
              issuerRef:
                type: object
                required: [name]
                properties:
                  name: {type: string}
                  kind: {type: string}
                  group: {type: string}
              privateKey:
                type: object
                properties:
                  algorithm: {type: string, enum: [RSA, ECDSA, Ed25519]}
                  size: {type: integer}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`)

// PersistentVolumes makes n new hostPath volumes of a storage class (""
// for claims that name none) for claims to bind to: the stack has no
// provisioner. Each call adds its own, so tests that share a stack do not
// take each other's volumes.
func (s *Stack) PersistentVolumes(ctx context.Context, class string, n int) error {
	prefix := "pv-" + class + "-"
	if class == "" {
		prefix = "pv-classless-"
	}
	for i, made := 0, 0; made < n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteMany},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              class,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
			},
		}
		_, err := s.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		switch {
		case apierrors.IsAlreadyExists(err):
			continue
		case err != nil:
			return fmt.Errorf("kube stack: persistent volume %s: %w", name, err)
		}
		made++
	}
	return nil
}
