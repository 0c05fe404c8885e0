package build

import (
	"cmp"
	"maps"
	"path"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels and annotations of a build's Job and pod.
const (
	// LabelBuild carries the build's id.
	LabelBuild = "slipway.io/build"
	// labelManaged marks what the service made.
	labelManaged = "app.kubernetes.io/managed-by"
	// annotationWorkflow and annotationNode name what is built, for people
	// reading the cluster.
	annotationWorkflow = "slipway.io/workflow"
	annotationNode     = "slipway.io/node"
)

// The build pod's containers, in the order they run: each step is one, so
// that the pod's container statuses tell the build's step.
const (
	containerClone = "clone"
	containerBuild = "build"
	containerPush  = "push"
)

// Paths in the build pod's shared volume.
const (
	workspace = "/workspace"
	sourceDir = workspace + "/src"
	imageTar  = workspace + "/image.tar"
	// dockerConfig holds the registry Secret's config.json.
	dockerConfig = "/docker"
)

// finishedTTL is how long Kubernetes keeps a finished build's Job.
const finishedTTL = 24 * 60 * 60

// JobName returns the name of a build's Job.
func JobName(id string) string { return "slipway-build-" + id }

// cloneScript fetches exactly the commit, and no history.
const cloneScript = `set -eu
git init -q ` + sourceDir + `
cd ` + sourceDir + `
git fetch -q --depth 1 "$REPO_URL" "$COMMIT"
git checkout -q FETCH_HEAD`

// newJob returns the Job that runs a build: an init container clones the
// commit, another builds it into an OCI archive, and the pod's container
// pushes the archive and reports the pushed reference, with its digest,
// as its termination message.
func newJob(r *Record, cfg *Config) *batchv1.Job {
	labels := map[string]string{LabelBuild: r.ID, labelManaged: "slipway"}
	meta := metav1.ObjectMeta{
		Name: JobName(r.ID), Namespace: cfg.Namespace, Labels: labels,
		Annotations: map[string]string{annotationWorkflow: r.Workflow, annotationNode: r.Node},
	}
	mounts := []corev1.VolumeMount{{Name: "workspace", MountPath: workspace}}
	volumes := []corev1.Volume{{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	push := corev1.Container{
		Name: containerPush, Image: cfg.PushImage,
		Args:         pushArgs(r, cfg),
		VolumeMounts: slices.Clone(mounts),
	}
	if cfg.RegistrySecret != "" {
		volumes = append(volumes, corev1.Volume{Name: "registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: cfg.RegistrySecret,
			Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}},
		}}})
		push.VolumeMounts = append(push.VolumeMounts, corev1.VolumeMount{Name: "registry", MountPath: dockerConfig, ReadOnly: true})
		push.Env = []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: dockerConfig}}
	}
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cfg.CPU), corev1.ResourceMemory: resource.MustParse(cfg.Memory)}
	build := corev1.Container{
		Name: containerBuild, Image: cfg.BuilderImage,
		Command:      []string{"buildctl-daemonless.sh"},
		Args:         builderArgs(r, cfg),
		Env:          []corev1.EnvVar{{Name: "BUILDKITD_FLAGS", Value: "--oci-worker-no-process-sandbox"}},
		VolumeMounts: slices.Clone(mounts),
		Resources:    corev1.ResourceRequirements{Requests: limits, Limits: limits},
		// Rootless BuildKit makes its own namespaces: the runtime's
		// default profiles forbid the calls it needs.
		SecurityContext: &corev1.SecurityContext{
			SeccompProfile:  &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
			AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
		},
	}
	clone := corev1.Container{
		Name: containerClone, Image: cfg.CloneImage,
		Command: []string{"sh", "-c", cloneScript},
		Env: []corev1.EnvVar{
			{Name: "REPO_URL", Value: r.RepoURL}, {Name: "COMMIT", Value: r.Commit}, {Name: "HOME", Value: "/tmp"},
		},
		VolumeMounts: slices.Clone(mounts),
	}
	containers := []*corev1.Container{&clone, &build, &push}
	for _, c := range containers {
		// A failed step's last log lines become its termination message:
		// the build's log tail, without reading logs.
		c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}
	return &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To(cfg.Retries),
			ActiveDeadlineSeconds:   ptr.To(int64(cfg.Timeout.Seconds())),
			TTLSecondsAfterFinished: ptr.To(int32(finishedTTL)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: meta.Annotations},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					NodeSelector:                 maps.Clone(cfg.NodeSelector),
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(1000)), FSGroup: ptr.To(int64(1000)),
					},
					InitContainers: []corev1.Container{clone, build},
					Containers:     []corev1.Container{push},
					Volumes:        volumes,
				},
			},
		},
	}
}

// builderArgs are buildctl's arguments: the node's context, Dockerfile,
// target and build arguments, into an OCI archive.
func builderArgs(r *Record, cfg *Config) []string {
	if len(cfg.BuilderArgs) > 0 {
		return slices.Clone(cfg.BuilderArgs)
	}
	ctx := path.Join(sourceDir, r.Context)
	dockerfile := path.Join(ctx, cmp.Or(r.Dockerfile, "Dockerfile"))
	args := []string{"build", "--frontend", "dockerfile.v0",
		"--local", "context=" + ctx, "--local", "dockerfile=" + path.Dir(dockerfile),
		"--opt", "filename=" + path.Base(dockerfile)}
	if r.Target != "" {
		args = append(args, "--opt", "target="+r.Target)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Args)) {
		args = append(args, "--opt", "build-arg:"+k+"="+r.Args[k])
	}
	return append(args, "--output", "type=oci,dest="+imageTar)
}

// pushArgs are crane's arguments: push the archive, and write the pushed
// reference with its digest where Kubernetes reads the termination
// message.
func pushArgs(r *Record, cfg *Config) []string {
	args := []string{"push", imageTar, r.destination(), "--image-refs", corev1.TerminationMessagePathDefault}
	if cfg.RegistryInsecure {
		args = append(args, "--insecure")
	}
	return args
}
