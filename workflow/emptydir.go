package workflow

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// VolumeEmptyDir is the volumeMounts type of a scratch directory the pod
// gets empty and loses with it (Kubernetes' emptyDir volume): it links no
// node, and its name names the volume. KubeOrch's editor writes the same
// entry shape, {type, name, mountPath}, for a volume without a node.
const VolumeEmptyDir = "emptyDir"

// linkedVolumePrefixes begin the names of the volumes the compiler gives
// the ConfigMaps, Secrets and PVCs linked to a workload.
var linkedVolumePrefixes = []string{"configmap-", "secret-", "pvc-"}

// emptyDir checks volumeMounts entry i, an emptyDir: a volume name and no
// node; names records the entries' names, to find one used twice.
func (nv *nodeValidator) emptyDir(i int, m VolumeMount, names map[string]string) {
	if m.NodeID != "" {
		nv.add(nv.at("volumeMounts", i, "nodeId"), "names node %q, but an emptyDir volume links no node: drop nodeId", m.NodeID)
	}
	ptr := nv.at("volumeMounts", i, "name")
	if m.Name == "" {
		nv.add(ptr, "is required for an emptyDir volume: it names the volume")
		return
	}
	nv.report(ptr, nv.node.ID, m.Name, validation.IsDNS1123Label(m.Name))
	for _, prefix := range linkedVolumePrefixes {
		if strings.HasPrefix(m.Name, prefix) {
			nv.add(ptr, "%q begins with %q, as the volumes of linked nodes are named", m.Name, prefix)
		}
	}
	if prev, dup := names[m.Name]; dup {
		nv.add(ptr, "%q also names the emptyDir volume at %s", m.Name, prev)
	}
	names[m.Name] = ptr
}
