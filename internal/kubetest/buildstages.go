package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// Build pods (those labelled slipway.io/build) do not run on kwok's fast
// stages: kwok plays their clone, build and push containers one after
// the other, and a test says how each one ends, by annotating the pod.
// A step runs until its annotation (BuildStepAnnotation) gives its exit
// code: 0 starts the next step (after push, the pod succeeded), any
// other code fails the pod, with BuildMessageAnnotation as the failed
// container's termination message. The push step's success reports that
// annotation too, as a pusher reports the reference it pushed.
const (
	buildLabel = "slipway.io/build"
	// BuildMessageAnnotation is the termination message of the step that
	// ends next.
	BuildMessageAnnotation = "build.kwok.slipway.io/message"
	buildStepPrefix        = "build.kwok.slipway.io/"
	buildStagesFile        = "kwok-build-stages.yaml"
)

// BuildStepAnnotation returns the annotation that ends a build pod's step
// (clone, build or push) with the exit code it holds.
func BuildStepAnnotation(step string) string { return buildStepPrefix + step }

// EndBuildStep annotates a build pod so that kwok ends its step with the
// exit code, and the termination message when it is not empty.
func (s *Stack) EndBuildStep(ctx context.Context, namespace, pod, step string, code int, message string) error {
	annotations := map[string]string{BuildStepAnnotation(step): strconv.Itoa(code)}
	if message != "" {
		annotations[BuildMessageAnnotation] = message
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	if _, err := s.Client.CoreV1().Pods(namespace).Patch(ctx, pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("end step %s of build pod %s/%s: %w", step, namespace, pod, err)
	}
	return nil
}

// buildStep is one container of a build pod: where its status is listed,
// at which index of its spec, and the pod's phase while it runs.
type buildStep struct {
	name, statuses, spec string
	index                int
	phase                string
}

// buildSteps are a build pod's containers in the order they run.
var buildSteps = []buildStep{
	{name: "clone", statuses: "initContainerStatuses", spec: "initContainers", index: 0, phase: "Pending"},
	{name: "build", statuses: "initContainerStatuses", spec: "initContainers", index: 1, phase: "Pending"},
	{name: "push", statuses: "containerStatuses", spec: "containers", index: 0, phase: "Running"},
}

// The states a stage writes for a container.
const (
	stateWaiting = "waiting:\n    reason: PodInitializing"
	stateRunning = "running:\n    startedAt: {{ Now | Quote }}"
	stateDone    = "terminated:\n    exitCode: 0\n    reason: Completed\n    startedAt: {{ Now | Quote }}\n    finishedAt: {{ Now | Quote }}"
	// stateEnded is the step's exit code and message, from the pod's
	// annotations.
	stateEnded = "terminated:\n    exitCode: {{ index .metadata.annotations %q }}\n    reason: %s\n    message: {{ or (index .metadata.annotations %q) \"\" | Quote }}\n    startedAt: {{ Now | Quote }}\n    finishedAt: {{ Now | Quote }}"
)

// buildStatus returns a status template that sets the pod's phase and
// each step's state.
func buildStatus(phase string, states []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase: %s\n", phase)
	for _, list := range []string{"initContainerStatuses", "containerStatuses"} {
		fmt.Fprintf(&b, "%s:\n", list)
		for i, st := range buildSteps {
			if st.statuses != list {
				continue
			}
			fmt.Fprintf(&b, "- name: %s\n  image: {{ (index .spec.%s %d).image | Quote }}\n  ready: false\n  restartCount: 0\n  state:\n    %s\n",
				st.name, st.spec, st.index, strings.ReplaceAll(states[i], "\n", "\n  "))
		}
	}
	return b.String()
}

// expr is a stage selector's expression.
func expr(key, op string, values ...string) map[string]any {
	e := map[string]any{"key": key, "operator": op}
	if len(values) > 0 {
		e["values"] = values
	}
	return e
}

// buildStage returns a Stage for build pods that match exprs. Its weight
// puts it before kwok's own stages, which match the same pods.
func buildStage(name string, delayMillis int, status string, exprs ...map[string]any) map[string]any {
	exprs = append([]map[string]any{
		expr(`.metadata.labels["`+buildLabel+`"]`, "Exists"),
		expr(".metadata.deletionTimestamp", "DoesNotExist"),
	}, exprs...)
	spec := map[string]any{
		"resourceRef": map[string]any{"apiGroup": "v1", "kind": "Pod"},
		"selector":    map[string]any{"matchExpressions": exprs},
		"weight":      1,
		"next":        map[string]any{},
	}
	if status != "" {
		spec["next"] = map[string]any{"statusTemplate": status}
	}
	if delayMillis > 0 {
		spec["delay"] = map[string]any{"durationMilliseconds": delayMillis}
	}
	return map[string]any{"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": map[string]any{"name": name}, "spec": spec}
}

// waitForever is the delay of a stage that holds a step until the test
// ends it: the pod's next change replaces it.
const waitForever = 24 * 60 * 60 * 1000

// buildStages returns kwok's stages for build pods: the clone starts as
// the pod is scheduled; each step then waits for its annotation, and ends
// as it says.
func buildStages() ([]byte, error) {
	states := func(upTo int, this, next string) []string {
		out := make([]string, len(buildSteps))
		for i := range out {
			switch {
			case i < upTo:
				out[i] = stateDone
			case i == upTo:
				out[i] = this
			case i == upTo+1:
				out[i] = next
			default:
				out[i] = stateWaiting
			}
		}
		return out
	}
	stages := []map[string]any{
		buildStage("build-pod-start", 0, buildStatus("Pending", states(0, stateRunning, stateWaiting)),
			expr(".status.phase", "In", "Pending"), expr(".status.initContainerStatuses", "DoesNotExist")),
	}
	for i, st := range buildSteps {
		running := []map[string]any{
			expr(".status.phase", "In", st.phase),
			expr(fmt.Sprintf(`.status.%s.[] | select( .name == %q ) | .state.running.startedAt`, st.statuses, st.name), "Exists"),
		}
		key := fmt.Sprintf(".metadata.annotations[%q]", BuildStepAnnotation(st.name))
		ok, okPhase := states(i, stateDone, stateRunning), "Pending"
		switch {
		case i == len(buildSteps)-1:
			// The pusher reports what it pushed as its message.
			ok[i] = fmt.Sprintf(stateEnded, BuildStepAnnotation(st.name), "Completed", BuildMessageAnnotation)
			okPhase = "Succeeded"
		case buildSteps[i+1].phase != st.phase:
			okPhase = buildSteps[i+1].phase
		}
		failed := states(i, fmt.Sprintf(stateEnded, BuildStepAnnotation(st.name), "Error", BuildMessageAnnotation), stateWaiting)
		stages = append(stages,
			buildStage("build-pod-"+st.name+"-runs", waitForever, "", append(running, expr(key, "DoesNotExist"))...),
			buildStage("build-pod-"+st.name+"-succeeds", 0, buildStatus(okPhase, ok), append(running, expr(key, "In", "0"))...),
			buildStage("build-pod-"+st.name+"-fails", 0, buildStatus("Failed", failed), append(running, expr(key, "Exists"), expr(key, "NotIn", "0"))...),
		)
	}
	var out []byte
	for _, s := range stages {
		b, err := yaml.Marshal(s)
		if err != nil {
			return nil, err
		}
		out = append(append(out, "---\n"...), b...)
	}
	return out, nil
}

// writeBuildStages writes kwok's stages for build pods into the stack's
// directory and returns the file's path.
func (s *Stack) writeBuildStages() (string, error) {
	b, err := buildStages()
	if err != nil {
		return "", fmt.Errorf("kube stack: build stages: %w", err)
	}
	path := filepath.Join(s.Dir, buildStagesFile)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("kube stack: build stages: %w", err)
	}
	return path, nil
}
