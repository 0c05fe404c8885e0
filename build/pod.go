package build

import (
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// maxLogTail bounds the log tail kept in a record.
const maxLogTail = 2048

// observation is what a build's Job and pods say of it.
type observation struct {
	status Status
	// pushed says the push step succeeded; reported is its termination
	// message, the reference pushed with its digest, when the pusher
	// wrote one.
	pushed   bool
	reported string
	// err and logTail say why the build failed.
	err, logTail string
}

// steps maps each container of the build pod to the step it runs.
var steps = map[string]Status{containerClone: Cloning, containerBuild: Building, containerPush: Pushing}

// observe reads a build's step from its Job and the Job's pods: the step
// is the container that runs in the newest pod, and a failure is the
// Job's, once it gave up (timeout, or no retries left).
func observe(job *batchv1.Job, pods []corev1.Pod) observation {
	newest := newestPod(pods)
	if c := jobCondition(job, batchv1.JobFailed); c != nil {
		o := observation{status: Failed, err: "the build failed: " + c.Message}
		if c.Reason == batchv1.JobReasonDeadlineExceeded && job.Spec.ActiveDeadlineSeconds != nil {
			o.err = fmt.Sprintf("the build timed out after %s", time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second)
		}
		if newest != nil {
			if name, st := failedContainer(newest); st != nil {
				o.err = fmt.Sprintf("step %s failed with exit code %d", name, st.ExitCode)
				if c.Reason == batchv1.JobReasonDeadlineExceeded {
					o.err = fmt.Sprintf("step %s did not finish before the timeout", name)
				}
				o.logTail = tail(st.Message)
			}
		}
		return o
	}
	complete := jobCondition(job, batchv1.JobComplete) != nil
	if newest == nil {
		// A complete Job whose pods are gone pushed all the same.
		return observation{status: Pending, pushed: complete}
	}
	ok, reported := pushed(newest)
	return observation{status: step(newest), pushed: ok || complete, reported: reported}
}

// step returns the step a pod runs: the first container that has not
// finished well.
func step(p *corev1.Pod) Status {
	for _, name := range []string{containerClone, containerBuild, containerPush} {
		st := containerStatus(p, name)
		switch {
		case st == nil && p.Status.Phase == corev1.PodPending && name == containerClone:
			return Pending
		case st == nil, st.State.Terminated == nil, st.State.Terminated.ExitCode != 0:
			return steps[name]
		}
	}
	return Pushing
}

// pushed reports whether a pod's push container succeeded, and its
// termination message.
func pushed(p *corev1.Pod) (bool, string) {
	st := containerStatus(p, containerPush)
	if st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
		return false, ""
	}
	return true, strings.TrimSpace(st.State.Terminated.Message)
}

// failedContainer returns the first container of a pod that ended with
// an error, or was stopped.
func failedContainer(p *corev1.Pod) (string, *corev1.ContainerStateTerminated) {
	for _, name := range []string{containerClone, containerBuild, containerPush} {
		if st := containerStatus(p, name); st != nil && st.State.Terminated != nil && st.State.Terminated.ExitCode != 0 {
			return name, st.State.Terminated
		}
	}
	return "", nil
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func newestPod(pods []corev1.Pod) *corev1.Pod {
	if len(pods) == 0 {
		return nil
	}
	p := slices.MaxFunc(pods, func(a, b corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return &p
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// tail returns the end of a log, at most maxLogTail bytes from a line's
// start.
func tail(log string) string {
	log = strings.TrimSpace(log)
	if len(log) <= maxLogTail {
		return log
	}
	log = log[len(log)-maxLogTail:]
	if i := strings.IndexByte(log, '\n'); i >= 0 {
		log = log[i+1:]
	}
	return log
}
