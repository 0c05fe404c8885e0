package compiler

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/slipway-gitops/slipway/workflow"
)

// emptyDirs renders the emptyDir entries of a container's volumeMounts
// (workflow.VolumeEmptyDir): a volume of that name, empty when the pod
// starts, and its mount.
func emptyDirs(c *workflow.Container) ([]corev1.Volume, []corev1.VolumeMount) {
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if m.Type != workflow.VolumeEmptyDir {
			continue
		}
		volumes = append(volumes, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mounts = append(mounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, SubPath: m.SubPath, ReadOnly: m.ReadOnly})
	}
	return volumes, mounts
}
