package build

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Container states, as the kubelet reports them.
var (
	waiting  = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
	running  = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	finished = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: "ok"}}
)

func exited(code int32, message string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: message}}
}

// buildPod is a build pod whose clone, build and push containers are in
// the states given.
func buildPod(phase corev1.PodPhase, clone, build, push corev1.ContainerState) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: metav1.Now()},
		Status: corev1.PodStatus{
			Phase:                 phase,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: containerClone, State: clone}, {Name: containerBuild, State: build}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: containerPush, State: push}},
		},
	}
}

func failedJob(reason string) *batchv1.Job {
	return &batchv1.Job{
		Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To(int64(600))},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: "Job has reached the specified backoff limit"},
		}},
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()
	job := &batchv1.Job{}
	pushedRef := "reg/app:abc@sha256:" + strings.Repeat("0", 64)
	for _, tt := range []struct {
		name string
		job  *batchv1.Job
		pods []corev1.Pod
		want observation
	}{
		{"no pod yet", job, nil, observation{status: Pending}},
		{"scheduled, nothing runs", job, []corev1.Pod{{Status: corev1.PodStatus{Phase: corev1.PodPending}}}, observation{status: Pending}},
		{"cloning", job, []corev1.Pod{buildPod(corev1.PodPending, running, waiting, waiting)}, observation{status: Cloning}},
		{"building", job, []corev1.Pod{buildPod(corev1.PodPending, finished, running, waiting)}, observation{status: Building}},
		{"pushing", job, []corev1.Pod{buildPod(corev1.PodRunning, finished, finished, running)}, observation{status: Pushing}},
		{"pushed", job, []corev1.Pod{buildPod(corev1.PodSucceeded, finished, finished, exited(0, pushedRef+"\n"))},
			observation{status: Pushing, pushed: true, reported: pushedRef}},
		{"pushed, without a message", job, []corev1.Pod{buildPod(corev1.PodSucceeded, finished, finished, exited(0, ""))},
			observation{status: Pushing, pushed: true}},
		{"complete, its pods gone", &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}, nil,
			observation{status: Pending, pushed: true}},
		{"a failed attempt, retried", job, []corev1.Pod{buildPod(corev1.PodFailed, finished, exited(1, "boom"), waiting)}, observation{status: Building}},
		{"failed at the build", failedJob(batchv1.JobReasonBackoffLimitExceeded),
			[]corev1.Pod{buildPod(corev1.PodFailed, finished, exited(1, "#5 ERROR: process \"/bin/sh -c make\" did not complete"), waiting)},
			observation{status: Failed, err: "step build failed with exit code 1", logTail: "#5 ERROR: process \"/bin/sh -c make\" did not complete"}},
		{"failed at the clone", failedJob(batchv1.JobReasonBackoffLimitExceeded),
			[]corev1.Pod{buildPod(corev1.PodFailed, exited(128, "fatal: couldn't find remote ref"), waiting, waiting)},
			observation{status: Failed, err: "step clone failed with exit code 128", logTail: "fatal: couldn't find remote ref"}},
		{"failed at the push", failedJob(batchv1.JobReasonBackoffLimitExceeded),
			[]corev1.Pod{buildPod(corev1.PodFailed, finished, finished, exited(1, "UNAUTHORIZED"))},
			observation{status: Failed, err: "step push failed with exit code 1", logTail: "UNAUTHORIZED"}},
		{"timed out while building", failedJob(batchv1.JobReasonDeadlineExceeded),
			[]corev1.Pod{buildPod(corev1.PodFailed, finished, exited(137, ""), waiting)},
			observation{status: Failed, err: "step build did not finish before the timeout"}},
		{"timed out before a pod ran", failedJob(batchv1.JobReasonDeadlineExceeded), nil,
			observation{status: Failed, err: "the build timed out after " + (10 * time.Minute).String()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := observe(tt.job, tt.pods); got != tt.want {
				t.Errorf("observe = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestObserveReadsTheNewestPod(t *testing.T) {
	t.Parallel()
	old := buildPod(corev1.PodFailed, finished, exited(1, "boom"), waiting)
	old.CreationTimestamp = metav1.NewTime(time.Unix(1, 0))
	retry := buildPod(corev1.PodRunning, finished, finished, running)
	retry.CreationTimestamp = metav1.NewTime(time.Unix(2, 0))
	if got := observe(&batchv1.Job{}, []corev1.Pod{retry, old}); got.status != Pushing {
		t.Errorf("status %s, want the retry's pushing", got.status)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	log := strings.Repeat("line of the build log\n", 500)
	got := tail(log)
	if len(got) > maxLogTail || !strings.HasPrefix(got, "line of") || !strings.HasSuffix(got, "build log") {
		t.Errorf("tail: %d bytes, %q…", len(got), got[:20])
	}
}
