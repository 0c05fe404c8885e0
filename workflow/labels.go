package workflow

// Labels and annotations Slipway puts on every object it renders, so that
// watches can map a live object back to its workflow and node.
const (
	// LabelName is the object's (or, on pods, the workload's) name.
	LabelName = "app.kubernetes.io/name"
	// LabelPartOf is the workflow name.
	LabelPartOf = "app.kubernetes.io/part-of"
	// LabelManagedBy is always ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "slipway"
	// AnnotationNodeID is the id of the node an object was rendered from.
	AnnotationNodeID = "slipway.dev/node-id"
	// AnnotationWorkflow is the workflow an object was rendered from.
	AnnotationWorkflow = "slipway.dev/workflow"
)

// reservedLabels may not be set by users: Slipway owns them.
var reservedLabels = []string{LabelName, LabelPartOf, LabelManagedBy}

// SelectorLabels returns the labels that select the pods of a workload.
// They never change for a workload, as Kubernetes requires of selectors.
func SelectorLabels(workflowName, workloadName string) map[string]string {
	return map[string]string{LabelName: workloadName, LabelPartOf: workflowName}
}

// AdoptKubeOrch is the Cluster.Adopt value for objects KubeOrch made.
const AdoptKubeOrch = "kubeorch"

// LabelKubeOrchApp is the label KubeOrch's templates select a workload's
// pods by, with the workload's name as its value.
const LabelKubeOrchApp = "app"

// AdoptedSelectorLabels returns the labels that select the pods of a
// workload whose live object the system adopt made: KubeOrch's app:
// <name>; Slipway's own (SelectorLabels) when adopt is empty.
func AdoptedSelectorLabels(adopt, workflowName, workloadName string) map[string]string {
	if adopt == AdoptKubeOrch {
		return map[string]string{LabelKubeOrchApp: workloadName}
	}
	return SelectorLabels(workflowName, workloadName)
}
