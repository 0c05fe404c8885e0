package compiler

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/slipway-gitops/slipway/workflow"
)

// AnnotationFluxForce makes Flux recreate an object whose spec is
// immutable, such as a Job's pod template.
const AnnotationFluxForce = "kustomize.toolkit.fluxcd.io/force"

func renderDeployment(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.DeploymentData)
	tmpl, err := rc.podTemplate(n, &d.Container)
	if err != nil {
		return nil, err
	}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: appsv1.DeploymentSpec{
			Replicas: rc.replicas(n, d.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: workflow.SelectorLabels(rc.wf.Name, d.Name)},
			Template: tmpl,
		},
	}
	return []object{{kind: "Deployment", name: d.Name, nodeID: n.ID, value: dep}}, nil
}

func renderStatefulSet(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.StatefulSetData)
	tmpl, err := rc.podTemplate(n, &d.Container)
	if err != nil {
		return nil, err
	}
	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: appsv1.StatefulSetSpec{
			ServiceName: d.ServiceName,
			Replicas:    rc.replicas(n, d.Replicas),
			Selector:    &metav1.LabelSelector{MatchLabels: workflow.SelectorLabels(rc.wf.Name, d.Name)},
			Template:    tmpl,
		},
	}
	c := &sts.Spec.Template.Spec.Containers[0]
	for _, t := range d.VolumeClaimTemplates {
		size, err := resource.ParseQuantity(t.Storage)
		if err != nil {
			return nil, fmt.Errorf("volume claim template %q: %w", t.Name, err)
		}
		pvc := corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: t.Name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: accessModes(t.AccessModes),
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		}
		if t.StorageClassName != "" {
			pvc.Spec.StorageClassName = ptr.To(t.StorageClassName)
		}
		sts.Spec.VolumeClaimTemplates = append(sts.Spec.VolumeClaimTemplates, pvc)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: t.Name, MountPath: t.Path()})
	}
	sortMounts(c.VolumeMounts)
	objs := []object{{kind: "StatefulSet", name: d.Name, nodeID: n.ID, value: sts}}
	if headless := rc.governingService(n, d); headless != nil {
		objs = append(objs, *headless)
	}
	return objs, nil
}

// governingService renders the headless Service a StatefulSet names when
// the workflow draws none.
func (rc *renderContext) governingService(n *workflow.Node, d *workflow.StatefulSetData) *object {
	for i := range rc.wf.Nodes {
		if o := &rc.wf.Nodes[i]; o.Type == workflow.KindService && o.Name() == d.ServiceName {
			return nil
		}
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(rc.wf, n, d.ServiceName),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 workflow.SelectorLabels(rc.wf.Name, d.Name),
			PublishNotReadyAddresses: true,
		},
	}
	svc.Spec.Ports = containerServicePorts(&d.Container)
	return &object{kind: "Service", name: d.ServiceName, nodeID: n.ID, value: svc}
}

// containerServicePorts exposes every port of a container.
func containerServicePorts(c *workflow.Container) []corev1.ServicePort {
	var out []corev1.ServicePort
	if c.Port != 0 {
		out = append(out, corev1.ServicePort{Name: "port-" + fmt.Sprint(c.Port), Port: int32(c.Port), TargetPort: intstr.FromInt32(int32(c.Port))})
	}
	for _, p := range c.Ports {
		name := p.Name
		if name == "" {
			name = "port-" + fmt.Sprint(p.Port)
		}
		out = append(out, corev1.ServicePort{Name: name, Protocol: corev1.Protocol(p.Protocol), Port: int32(p.Port), TargetPort: intstr.FromInt32(int32(p.Port))})
	}
	return out
}

func renderDaemonSet(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.DaemonSetData)
	tmpl, err := rc.podTemplate(n, &d.Container)
	if err != nil {
		return nil, err
	}
	spec := &tmpl.Spec
	spec.NodeSelector = d.NodeSelector
	spec.HostNetwork = d.HostNetwork
	spec.HostPID = d.HostPID
	if d.HostNetwork {
		spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	for _, t := range d.Tolerations {
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds,
		})
	}
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: workflow.SelectorLabels(rc.wf.Name, d.Name)},
			Template: tmpl,
		},
	}
	if d.UpdateStrategy != "" {
		ds.Spec.UpdateStrategy.Type = appsv1.DaemonSetUpdateStrategyType(d.UpdateStrategy)
	}
	if d.MaxUnavailable != "" {
		mu := intstr.Parse(d.MaxUnavailable)
		ds.Spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &mu}
	}
	return []object{{kind: "DaemonSet", name: d.Name, nodeID: n.ID, value: ds}}, nil
}

func renderJob(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.JobData)
	spec, err := rc.jobSpec(n, &d.Container, &d.JobSpec, corev1.RestartPolicyNever)
	if err != nil {
		return nil, err
	}
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec:       spec,
	}
	// A Job's pod template is immutable: let Flux recreate the Job when
	// the workflow changes it.
	job.Annotations[AnnotationFluxForce] = "enabled"
	return []object{{kind: "Job", name: d.Name, nodeID: n.ID, value: job}}, nil
}

func renderCronJob(rc *renderContext, n *workflow.Node) ([]object, error) {
	d := n.Spec.(*workflow.CronJobData)
	spec, err := rc.jobSpec(n, &d.Container, &d.JobSpec, corev1.RestartPolicyOnFailure)
	if err != nil {
		return nil, err
	}
	cj := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: objectMeta(rc.wf, n, d.Name),
		Spec: batchv1.CronJobSpec{
			Schedule:                   d.Schedule,
			ConcurrencyPolicy:          batchv1.ConcurrencyPolicy(d.ConcurrencyPolicy),
			Suspend:                    d.Suspend,
			SuccessfulJobsHistoryLimit: int32Ptr(d.SuccessfulJobsHistoryLimit),
			FailedJobsHistoryLimit:     int32Ptr(d.FailedJobsHistoryLimit),
			StartingDeadlineSeconds:    d.StartingDeadlineSeconds,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: spec.Template.Labels},
				Spec:       spec,
			},
		},
	}
	if d.TimeZone != "" {
		cj.Spec.TimeZone = ptr.To(d.TimeZone)
	}
	return []object{{kind: "CronJob", name: d.Name, nodeID: n.ID, value: cj}}, nil
}

// jobSpec renders the fields jobs and cronjobs share; restart is the
// restart policy when the node sets none: KubeOrch's templates give a
// job Never and a cronjob OnFailure.
func (rc *renderContext) jobSpec(n *workflow.Node, c *workflow.Container, j *workflow.JobSpec, restart corev1.RestartPolicy) (batchv1.JobSpec, error) {
	tmpl, err := rc.podTemplate(n, c)
	if err != nil {
		return batchv1.JobSpec{}, err
	}
	tmpl.Spec.RestartPolicy = restart
	if j.RestartPolicy != "" {
		tmpl.Spec.RestartPolicy = corev1.RestartPolicy(j.RestartPolicy)
	}
	return batchv1.JobSpec{
		Completions:             int32Ptr(j.Completions),
		Parallelism:             int32Ptr(j.Parallelism),
		BackoffLimit:            int32Ptr(j.BackoffLimit),
		ActiveDeadlineSeconds:   j.ActiveDeadlineSeconds,
		TTLSecondsAfterFinished: int32Ptr(j.TTLSecondsAfterFinished),
		Template:                tmpl,
	}, nil
}

func int32Ptr(p *int64) *int32 {
	if p == nil {
		return nil
	}
	return ptr.To(int32(*p))
}

// podTemplate renders the pod of a workload: its one container, with the
// environment, volumes and mounts its links give.
func (rc *renderContext) podTemplate(n *workflow.Node, c *workflow.Container) (corev1.PodTemplateSpec, error) {
	name := n.Name()
	ctr := corev1.Container{
		Name:            name,
		Image:           c.Image,
		Command:         c.Command,
		Args:            c.Args,
		ImagePullPolicy: corev1.PullPolicy(c.ImagePullPolicy),
	}
	if c.Port != 0 {
		ctr.Ports = append(ctr.Ports, corev1.ContainerPort{ContainerPort: int32(c.Port)})
	}
	for _, p := range c.Ports {
		ctr.Ports = append(ctr.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.Port), Protocol: corev1.Protocol(p.Protocol)})
	}
	ctr.Env = envVars(c)
	res, err := resources(c.Resources)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	ctr.Resources = res
	ctr.LivenessProbe = probe(c.LivenessProbe)
	ctr.ReadinessProbe = probe(c.ReadinessProbe)
	ctr.SecurityContext = securityContext(c.SecurityContext)

	var volumes []corev1.Volume
	var pullSecrets []corev1.LocalObjectReference
	var initContainers []corev1.Container
	for _, l := range rc.valid.Links() {
		if l.To != n {
			continue
		}
		switch l.Kind {
		case workflow.LinkEnvFrom:
			ctr.EnvFrom = append(ctr.EnvFrom, envFrom(l.From))
		case workflow.LinkPullSecret:
			pullSecrets = append(pullSecrets, corev1.LocalObjectReference{Name: l.From.Name()})
		case workflow.LinkAfter:
			initContainers = append(initContainers, rc.waitFor(l.From))
		case workflow.LinkMount, workflow.LinkVolume:
			vol := volume(l.From)
			volumes = append(volumes, vol)
			ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{
				Name: vol.Name, MountPath: l.MountPath, SubPath: l.SubPath,
				ReadOnly: l.ReadOnly || l.From.Type == workflow.KindSecret || l.From.Type == workflow.KindConfigMap,
			})
		}
	}
	scratch, mounts := emptyDirs(c)
	volumes, ctr.VolumeMounts = append(volumes, scratch...), append(ctr.VolumeMounts, mounts...)
	sort.Slice(volumes, func(i, j int) bool { return volumes[i].Name < volumes[j].Name })
	sortMounts(ctr.VolumeMounts)
	labels := rc.wf.PodLabels(n)
	labels[workflow.LabelManagedBy] = workflow.ManagedBy
	annotations, err := rc.podAnnotations(n, c)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			InitContainers: initContainers, Containers: []corev1.Container{ctr},
			Volumes: volumes, ImagePullSecrets: pullSecrets,
			SecurityContext:              podSecurityContext(c.PodSecurityContext),
			ServiceAccountName:           c.ServiceAccountName,
			AutomountServiceAccountToken: c.AutomountServiceAccountToken,
		},
	}, nil
}

// waitUser is the user the wait-for init containers run as: nobody.
const waitUser = 65534

// waitResources bound the wait-for init containers: a shell loop of nc.
// Built per container, not when a program that links the package starts.
func waitResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
	}
}

// waitSecurityContext passes Pod Security "restricted": the wait-for init
// containers need no privilege, no capability and no writable root.
func waitSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(int64(waitUser)),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func securityContext(sc *workflow.SecurityContext) *corev1.SecurityContext {
	if sc == nil {
		return nil
	}
	out := &corev1.SecurityContext{
		RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, RunAsNonRoot: sc.RunAsNonRoot,
		ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem, AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
		Privileged: sc.Privileged, SeccompProfile: seccompProfile(sc.SeccompProfile),
	}
	if c := sc.Capabilities; c != nil {
		out.Capabilities = &corev1.Capabilities{}
		for _, a := range c.Add {
			out.Capabilities.Add = append(out.Capabilities.Add, corev1.Capability(a))
		}
		for _, d := range c.Drop {
			out.Capabilities.Drop = append(out.Capabilities.Drop, corev1.Capability(d))
		}
	}
	return out
}

func podSecurityContext(sc *workflow.PodSecurityContext) *corev1.PodSecurityContext {
	if sc == nil {
		return nil
	}
	return &corev1.PodSecurityContext{
		RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, RunAsNonRoot: sc.RunAsNonRoot,
		FSGroup: sc.FSGroup, SupplementalGroups: sc.SupplementalGroups, SeccompProfile: seccompProfile(sc.SeccompProfile),
	}
}

func seccompProfile(p *workflow.SeccompProfile) *corev1.SeccompProfile {
	if p == nil {
		return nil
	}
	out := &corev1.SeccompProfile{Type: corev1.SeccompProfileType(p.Type)}
	if p.LocalhostProfile != "" {
		out.LocalhostProfile = ptr.To(p.LocalhostProfile)
	}
	return out
}

// waitFor renders an init container that waits until the service of
// workload dep accepts connections: readiness ordering for depends_on.
func (rc *renderContext) waitFor(dep *workflow.Node) corev1.Container {
	svc, port, _ := rc.valid.WaitTarget(dep)
	return corev1.Container{
		Name:            dnsLabel("wait-for-" + dep.Name()),
		Image:           rc.opts.WaitImage,
		Command:         []string{"sh", "-c", fmt.Sprintf("until nc -z -w 2 %[1]s %[2]d; do echo waiting for %[1]s:%[2]d; sleep 2; done", svc, port)},
		Resources:       waitResources(),
		SecurityContext: waitSecurityContext(),
	}
}

func sortMounts(m []corev1.VolumeMount) {
	sort.Slice(m, func(i, j int) bool { return m[i].MountPath < m[j].MountPath })
}

// envVars renders literal variables in name order, then the entries with
// references in the order drawn (later ones may refer to earlier ones).
func envVars(c *workflow.Container) []corev1.EnvVar {
	var out []corev1.EnvVar
	names := make([]string, 0, len(c.Env))
	for k := range c.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out = append(out, corev1.EnvVar{Name: k, Value: c.Env[k]})
	}
	for _, e := range c.EnvKeys {
		v := corev1.EnvVar{Name: e.Name}
		switch {
		case e.Value != nil:
			v.Value = *e.Value
		case e.SecretKeyRef != nil:
			v.ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: e.SecretKeyRef.Name},
				Key:                  e.SecretKeyRef.Key, Optional: optional(e.SecretKeyRef.Optional),
			}}
		case e.ConfigMapKeyRef != nil:
			v.ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: e.ConfigMapKeyRef.Name},
				Key:                  e.ConfigMapKeyRef.Key, Optional: optional(e.ConfigMapKeyRef.Optional),
			}}
		}
		out = append(out, v)
	}
	return out
}

func optional(b bool) *bool {
	if !b {
		return nil
	}
	return ptr.To(true)
}

func envFrom(n *workflow.Node) corev1.EnvFromSource {
	ref := corev1.LocalObjectReference{Name: n.Name()}
	if n.Type == workflow.KindSecret {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref}}
	}
	return corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref}}
}

// volume renders the pod volume of a linked configmap, secret or PVC. A
// secret volume lists its declared keys, so a missing key fails the pod
// visibly instead of mounting an empty file.
func volume(n *workflow.Node) corev1.Volume {
	name := n.Name()
	switch d := n.Spec.(type) {
	case *workflow.ConfigMapData:
		return corev1.Volume{Name: dnsLabel("configmap-" + name), VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
		}}
	case *workflow.SecretData:
		src := &corev1.SecretVolumeSource{SecretName: name}
		for _, k := range d.Keys {
			src.Items = append(src.Items, corev1.KeyToPath{Key: k.Name, Path: k.Name})
		}
		return corev1.Volume{Name: dnsLabel("secret-" + name), VolumeSource: corev1.VolumeSource{Secret: src}}
	}
	return corev1.Volume{Name: dnsLabel("pvc-" + name), VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name},
	}}
}

func resources(r *workflow.Resources) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	if r == nil {
		return out, nil
	}
	list := func(l *workflow.ResourceList) (corev1.ResourceList, error) {
		if l == nil {
			return nil, nil
		}
		rl := corev1.ResourceList{}
		for name, s := range map[corev1.ResourceName]string{corev1.ResourceCPU: l.CPU, corev1.ResourceMemory: l.Memory} {
			if s == "" {
				continue
			}
			q, err := resource.ParseQuantity(s)
			if err != nil {
				return nil, fmt.Errorf("resources %s: %w", name, err)
			}
			rl[name] = q
		}
		return rl, nil
	}
	var err error
	if out.Limits, err = list(r.Limits); err != nil {
		return out, err
	}
	out.Requests, err = list(r.Requests)
	return out, err
}

func probe(p *workflow.Probe) *corev1.Probe {
	if p == nil {
		return nil
	}
	out := &corev1.Probe{
		InitialDelaySeconds: int32Value(p.InitialDelaySeconds),
		PeriodSeconds:       int32Value(p.PeriodSeconds),
		TimeoutSeconds:      int32Value(p.TimeoutSeconds),
		FailureThreshold:    int32Value(p.FailureThreshold),
		SuccessThreshold:    int32Value(p.SuccessThreshold),
	}
	switch {
	case len(p.Command) > 0:
		out.Exec = &corev1.ExecAction{Command: p.Command}
	case p.HTTPGet != nil:
		out.HTTPGet = &corev1.HTTPGetAction{Path: p.HTTPGet.Path, Port: intstr.FromInt32(int32(p.HTTPGet.Port))}
	default:
		out.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(p.TCPPort))}
	}
	return out
}

func int32Value(p *int64) int32 {
	if p == nil {
		return 0
	}
	return int32(*p)
}

func accessModes(modes []string) []corev1.PersistentVolumeAccessMode {
	out := make([]corev1.PersistentVolumeAccessMode, len(modes))
	for i, m := range modes {
		out[i] = corev1.PersistentVolumeAccessMode(m)
	}
	return out
}
