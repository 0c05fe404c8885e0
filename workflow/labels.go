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
