package build

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNewJob(t *testing.T) {
	t.Parallel()
	r := &Record{ID: "abc", Workflow: "shop", Node: "api", RepoURL: apiRepo, Commit: commitA, Context: "api", Dockerfile: "build/Dockerfile",
		Args: map[string]string{"B": "2", "A": "1"}, Target: "run", Registry: "reg.example.com/team", ImageName: "example/api", ImageTag: "111111111111"}
	cfg := testConfig("reg.example.com/team")
	cfg.RegistrySecret = "push-creds"
	cfg.NodeSelector = map[string]string{"pool": "builders"}
	job := newJob(r, &cfg)
	spec := job.Spec.Template.Spec
	if job.Name != "slipway-build-abc" || job.Namespace != "builds" || job.Labels[LabelBuild] != "abc" || job.Spec.Template.Labels[LabelBuild] != "abc" {
		t.Errorf("job meta = %+v", job.ObjectMeta)
	}
	if spec.NodeSelector["pool"] != "builders" {
		t.Errorf("node selector = %v", spec.NodeSelector)
	}
	if *job.Spec.ActiveDeadlineSeconds != 1800 || *job.Spec.BackoffLimit != 1 || spec.RestartPolicy != "Never" || *spec.AutomountServiceAccountToken {
		t.Errorf("job spec: deadline %d, backoff %d, restart %s", *job.Spec.ActiveDeadlineSeconds, *job.Spec.BackoffLimit, spec.RestartPolicy)
	}
	if len(spec.InitContainers) != 2 || spec.InitContainers[0].Name != "clone" || spec.InitContainers[1].Name != "build" || spec.Containers[0].Name != "push" {
		t.Fatalf("containers: %+v %+v", spec.InitContainers, spec.Containers)
	}
	build := strings.Join(spec.InitContainers[1].Args, " ")
	for _, want := range []string{"--local context=/workspace/src/api", "--local dockerfile=/workspace/src/api/build", "--opt filename=Dockerfile",
		"--opt target=run", "--opt build-arg:A=1 --opt build-arg:B=2", "--output type=oci,dest=/workspace/image.tar"} {
		if !strings.Contains(build, want) {
			t.Errorf("builder args %q lack %q", build, want)
		}
	}
	push := spec.Containers[0]
	if got := strings.Join(push.Args, " "); got != "push /workspace/image.tar reg.example.com/team/example/api:111111111111 --image-refs /dev/termination-log --insecure" {
		t.Errorf("push args %q", got)
	}
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "push-creds" }) ||
		push.Env[0].Value != "/docker" {
		t.Errorf("the registry Secret is not mounted for the push: %+v %+v", spec.Volumes, push.Env)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.TerminationMessagePolicy != "FallbackToLogsOnError" {
			t.Errorf("container %s does not report its log tail", c.Name)
		}
	}
	cfg.BuilderArgs = []string{"build", "--custom"}
	if got := newJob(r, &cfg).Spec.Template.Spec.InitContainers[1].Args; !slices.Equal(got, cfg.BuilderArgs) {
		t.Errorf("configured builder args = %v", got)
	}
}
