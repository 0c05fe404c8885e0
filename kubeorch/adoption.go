package kubeorch

import (
	"fmt"
	"strings"

	"github.com/slipway-gitops/slipway/workflow"
)

// Change is one object whose behaviour changes when a cluster adopts what
// KubeOrch deployed ("adopt": "kubeorch"): Flux applies what Slipway
// renders over what KubeOrch's templates made.
type Change struct {
	// Workflow is the name of the workflow file the object comes from.
	Workflow string `json:"workflow"`
	// Object is the object as kind/name.
	Object string `json:"object"`
	// Detail says what changes, each change in a clause.
	Detail string `json:"detail"`
}

// noteAdoption reports what changes for each object of the workflow file
// data when Flux takes it over from KubeOrch. A canvas that does not
// decode is left to check, which names its problems.
func noteAdoption(name string, data []byte, r *Report) {
	wf, err := workflow.Decode(workflow.WorkflowFile(name), data)
	if err != nil || wf.Validated() == nil {
		return
	}
	valid := wf.Validated()
	for i := range wf.Nodes {
		n := &wf.Nodes[i]
		var kind string
		var changes []string
		switch d := n.Spec.(type) {
		case *workflow.DeploymentData:
			kind, changes = "Deployment", workloadChanges(wf, valid, n, &d.Container, rolled, false)
		case *workflow.StatefulSetData:
			kind, changes = "StatefulSet", workloadChanges(wf, valid, n, &d.Container, rolled, false)
		case *workflow.DaemonSetData:
			kind, changes = "DaemonSet", workloadChanges(wf, valid, n, &d.Container, rolled, true)
		case *workflow.CronJobData:
			kind, changes = "CronJob", workloadChanges(wf, valid, n, &d.Container, "the Jobs it starts from now on run Slipway's pod template", true)
		case *workflow.JobData:
			kind = "Job"
			changes = []string{"left as KubeOrch ran it: Flux creates the Job only when it is missing, so it does not run again (delete it to run the workflow's version)"}
		case *workflow.NetworkPolicyData:
			if len(d.IngressRules) > 0 || len(d.EgressRules) > 0 {
				kind = "NetworkPolicy"
				changes = []string{"its drawn rules are enforced for the first time: KubeOrch's policy has one empty rule, which allows all traffic"}
			}
		case *workflow.SecretData:
			if d.SecretType == "kubernetes.io/dockerconfigjson" {
				kind = "Secret"
				changes = []string{"the registry credentials stay as KubeOrch last wrote them: Slipway renders no secret values, so nothing refreshes them as KubeOrch's runs did"}
			}
		}
		if kind != "" {
			r.Adoption = append(r.Adoption, Change{Workflow: name, Object: kind + "/" + n.Name(), Detail: strings.Join(changes, "; ")})
		}
	}
}

// rolled is what changes for the pods of a Deployment, StatefulSet or
// DaemonSet that Flux takes over.
const rolled = "its pods are replaced once: their template gains Slipway's labels"

// workloadChanges lists what changes for a workload's pods, first how
// they are replaced; rawResources says KubeOrch's template left the
// kind's requests and limits out (its DaemonSet, Job and CronJob
// templates read them by other names than its editor saves).
func workloadChanges(wf *workflow.Workflow, valid *workflow.Valid, n *workflow.Node, c *workflow.Container, replaced string, rawResources bool) []string {
	changes := []string{replaced}
	var env, keys []string
	for _, e := range c.EnvKeys {
		if e.SecretKeyRef != nil && e.SecretKeyRef.Name == workflow.EnvSecretName(wf.Name) {
			env, keys = append(env, e.Name), append(keys, e.SecretKeyRef.Key)
		}
	}
	if len(env) > 0 {
		changes = append(changes, fmt.Sprintf("the values KubeOrch set for %s come from the Secret %s (%s), which must hold them before Flux applies; run `compiler handover` first (docs/kubeorch.md)",
			strings.Join(env, ", "), workflow.EnvSecretName(wf.Name), strings.Join(keys, ", ")))
	}
	if rawResources && c.Resources != nil {
		changes = append(changes, "its requests and limits apply for the first time: KubeOrch's template left them out")
	}
	for _, l := range valid.LinksTo(n.ID, workflow.LinkMount) {
		if s, ok := l.From.Spec.(*workflow.SecretData); ok && len(s.Keys) > 0 {
			names := make([]string, len(s.Keys))
			for i, k := range s.Keys {
				names[i] = k.Name
			}
			changes = append(changes, fmt.Sprintf("the volume of Secret %s holds its declared keys %s only: KubeOrch mounted every key", s.Name, strings.Join(names, ", ")))
		}
	}
	return changes
}
