package workflow

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/distribution/reference"
	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// nodeValidator checks the data of one node; base is the pointer to data.
type nodeValidator struct {
	*validator
	node *Node
	base string
}

func (nv *nodeValidator) at(tokens ...any) string { return pointer(nv.base, tokens...) }

func (nv *nodeValidator) add(ptr, format string, args ...any) {
	nv.c.add(ptr, nv.node.ID, format, args...)
}

func (nv *nodeValidator) validate() {
	spec := nv.node.Type.spec()
	nv.meta(spec, nv.node.Spec.ObjectMeta())
	if w, ok := nv.node.Spec.(Workload); ok {
		nv.container(w.ContainerSpec())
	}
	spec.check(nv, nv.node.Spec)
}

func (nv *nodeValidator) meta(spec *kindSpec, m *Meta) {
	id := nv.node.ID
	switch spec.name {
	case nameDNS1035Label:
		if m.Name == "" {
			nv.add(nv.at("name"), "is required")
		} else {
			nv.report(nv.at("name"), id, m.Name, validation.IsDNS1035Label(m.Name))
		}
	case nameDNS1123Subdomain:
		nv.dns1123Subdomain(nv.at("name"), id, m.Name)
	default:
		if nv.dns1123Label(nv.at("name"), id, m.Name) && spec.maxName > 0 && len(m.Name) > spec.maxName {
			nv.add(nv.at("name"), "%q is %d characters; a %s name may have at most %d", m.Name, len(m.Name), spec.kind, spec.maxName)
		}
	}
	// KubeOrch deploys each node into its own namespace, a cleared one
	// into default; a workflow deploys into one, so a node naming another
	// moves there.
	ns, target := m.Namespace, nv.wf.TargetNamespace()
	if ns == "" && nv.cleared[nv.node.ID] {
		ns = DefaultNamespace
	}
	switch {
	case ns == "" || ns == target:
	case nv.wf.nsNode != "":
		nv.c.warn(nv.at("namespace"), id, "%q differs from %q, the namespace of node %q that sets the workflow's; a workflow deploys into one namespace, so this %s is rendered into %q", ns, target, nv.wf.nsNode, nv.node.Type, target)
	default:
		nv.c.warn(nv.at("namespace"), id, "%q differs from the workflow's namespace %q; a workflow deploys into one namespace, so this %s is rendered into %q", ns, target, nv.node.Type, target)
	}
	nv.labels(nv.at("labels"), id, m.Labels, false)
	nv.annotations(nv.at("annotations"), id, m.Annotations)
}

func (nv *nodeValidator) deployment(d *DeploymentData) {
	nv.nonNegative(nv.at("replicas"), nv.node.ID, d.Replicas)
}

func (nv *nodeValidator) container(c *Container) {
	id := nv.node.ID
	if c.Image == "" {
		nv.c.canvasDefault(nv.at("image"), id, "is required")
	} else if _, err := reference.ParseNormalizedNamed(c.Image); err != nil {
		nv.add(nv.at("image"), "%q is not a valid image reference: %v", c.Image, err)
	}
	// A port number may be given once per protocol.
	type portKey struct {
		n     int64
		proto string
	}
	key := func(n int64, proto string) portKey {
		if proto == "" {
			proto = "TCP"
		}
		return portKey{n, proto}
	}
	ports := map[portKey]string{}
	if c.Port != 0 {
		nv.port(nv.at("port"), id, c.Port, true)
		ports[key(c.Port, "")] = nv.at("port")
	}
	portNames := map[string]bool{}
	for i, p := range c.Ports {
		nv.port(nv.at("ports", i, "port"), id, p.Port, true)
		if prev, dup := ports[key(p.Port, p.Protocol)]; dup && p.Port != 0 {
			nv.add(nv.at("ports", i, "port"), "port %d is also given at %s", p.Port, prev)
		}
		ports[key(p.Port, p.Protocol)] = nv.at("ports", i, "port")
		if p.Name != "" {
			nv.report(nv.at("ports", i, "name"), id, p.Name, validation.IsValidPortName(p.Name))
			if portNames[p.Name] {
				nv.add(nv.at("ports", i, "name"), "port name %q is used twice", p.Name)
			}
			portNames[p.Name] = true
		}
		nv.oneOf(nv.at("ports", i, "protocol"), id, p.Protocol, "TCP", "UDP", "SCTP")
	}
	envNames := map[string]string{}
	for _, k := range sortedKeys(c.Env) {
		ptr := nv.at("env", k)
		nv.report(ptr, id, k, validation.IsEnvVarName(k))
		nv.noSecretEnv(ptr, k, c.Env[k])
		envNames[k] = ptr
	}
	for i, e := range c.EnvKeys {
		nv.envEntry(i, e, envNames)
	}
	nv.resources(c.Resources)
	mountPaths, emptyDirs := map[string]string{}, map[string]string{}
	for i, m := range c.VolumeMounts {
		switch {
		case m.Type == VolumeEmptyDir:
			nv.emptyDir(i, m, emptyDirs)
		case m.NodeID == "":
			nv.add(nv.at("volumeMounts", i, "nodeId"), "is required")
		}
		nv.oneOf(nv.at("volumeMounts", i, "type"), id, m.Type, "configMap", "secret", "persistentVolumeClaim", VolumeEmptyDir)
		nv.absPath(nv.at("volumeMounts", i, "mountPath"), id, m.MountPath)
		if prev, dup := mountPaths[m.MountPath]; dup && m.MountPath != "" {
			nv.add(nv.at("volumeMounts", i, "mountPath"), "%q is also used at %s", m.MountPath, prev)
		}
		mountPaths[m.MountPath] = nv.at("volumeMounts", i, "mountPath")
	}
	nv.oneOf(nv.at("imagePullPolicy"), id, c.ImagePullPolicy, "Always", "IfNotPresent", "Never")
	nv.probe("livenessProbe", c.LivenessProbe)
	nv.probe("readinessProbe", c.ReadinessProbe)
	if c.Build != nil {
		nv.build(c.Build)
	}
	if c.ImagePolicy != nil {
		nv.imagePolicy(c.ImagePolicy)
	}
	nv.securityContext(c.SecurityContext)
	nv.podSecurityContext(c.PodSecurityContext)
	if c.ServiceAccountName != "" {
		nv.dns1123Subdomain(nv.at("serviceAccountName"), id, c.ServiceAccountName)
	}
}

// capabilityRE compiles on first use: most workflows set no capabilities.
var capabilityRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Z_]*$`) })

// build checks where an image is built from: the repository URL carries
// no password (credentials come from the cluster, never from git), and
// the branch is a branch name.
func (nv *nodeValidator) build(b *BuildSpec) {
	if b.Context == "" {
		nv.add(nv.at("build", "context"), "is required")
	}
	if urlPassword(b.RepoURL) {
		nv.add(nv.at("build", "repoUrl"), "carries a password; give the build's git credentials to the cluster, not to git")
	}
	if b.Branch != "" && (strings.ContainsAny(b.Branch, " ~^:?*[\\") || strings.HasPrefix(b.Branch, "-") || strings.Contains(b.Branch, "..")) {
		nv.add(nv.at("build", "branch"), "%q is not a branch name", b.Branch)
	}
}

// imagePolicy checks that a policy is one semver range or one regular
// expression.
func (nv *nodeValidator) imagePolicy(p *ImagePolicy) {
	switch {
	case (p.Semver == "") == (p.Pattern == ""):
		nv.add(nv.at("imagePolicy"), "needs exactly one of semver and pattern")
	case p.Semver != "":
		if _, err := semver.NewConstraint(p.Semver); err != nil {
			nv.add(nv.at("imagePolicy", "semver"), "%q is not a version range: %v", p.Semver, err)
		}
	default:
		if _, err := regexp.Compile(p.Pattern); err != nil {
			nv.add(nv.at("imagePolicy", "pattern"), "%q is not a regular expression: %v", p.Pattern, err)
		}
	}
}

func (nv *nodeValidator) securityContext(sc *SecurityContext) {
	if sc == nil {
		return
	}
	nv.identity("securityContext", sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot)
	if sc.Privileged != nil && *sc.Privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		nv.add(nv.at("securityContext", "allowPrivilegeEscalation"), "cannot be false when privileged is true")
	}
	if c := sc.Capabilities; c != nil {
		for _, l := range []struct {
			field string
			caps  []string
		}{{"add", c.Add}, {"drop", c.Drop}} {
			for i, name := range l.caps {
				if !capabilityRE().MatchString(name) {
					nv.add(nv.at("securityContext", "capabilities", l.field, i), "%q is not a capability name (like NET_BIND_SERVICE or ALL)", name)
				}
			}
		}
	}
	nv.seccompProfile(nv.at("securityContext", "seccompProfile"), sc.SeccompProfile)
}

func (nv *nodeValidator) podSecurityContext(sc *PodSecurityContext) {
	if sc == nil {
		return
	}
	id := nv.node.ID
	nv.identity("podSecurityContext", sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot)
	nv.nonNegative(nv.at("podSecurityContext", "fsGroup"), id, sc.FSGroup)
	for i, g := range sc.SupplementalGroups {
		nv.nonNegative(nv.at("podSecurityContext", "supplementalGroups", i), id, &g)
	}
	nv.seccompProfile(nv.at("podSecurityContext", "seccompProfile"), sc.SeccompProfile)
}

// identity checks the user and group a security context of field runs as.
func (nv *nodeValidator) identity(field string, user, group *int64, nonRoot *bool) {
	nv.nonNegative(nv.at(field, "runAsUser"), nv.node.ID, user)
	nv.nonNegative(nv.at(field, "runAsGroup"), nv.node.ID, group)
	if nonRoot != nil && *nonRoot && user != nil && *user == 0 {
		nv.add(nv.at(field, "runAsUser"), "is 0 (root) but runAsNonRoot is true")
	}
}

func (nv *nodeValidator) seccompProfile(ptr string, p *SeccompProfile) {
	if p == nil {
		return
	}
	if p.Type == "" {
		nv.add(pointer(ptr, "type"), "is required: RuntimeDefault, Localhost or Unconfined")
	}
	nv.oneOf(pointer(ptr, "type"), nv.node.ID, p.Type, "RuntimeDefault", "Localhost", "Unconfined")
	switch {
	case p.Type == "Localhost" && p.LocalhostProfile == "":
		nv.add(pointer(ptr, "localhostProfile"), "is required when type is Localhost")
	case p.Type != "Localhost" && p.LocalhostProfile != "":
		nv.add(pointer(ptr, "localhostProfile"), "is allowed only when type is Localhost")
	}
}

func (nv *nodeValidator) envEntry(i int, e EnvVarEntry, names map[string]string) {
	ptr := nv.at("envKeys", i)
	if e.Name == "" {
		nv.add(pointer(ptr, "name"), "is required")
	} else {
		nv.report(pointer(ptr, "name"), nv.node.ID, e.Name, validation.IsEnvVarName(e.Name))
		if prev, dup := names[e.Name]; dup {
			nv.add(pointer(ptr, "name"), "variable %q is also set at %s", e.Name, prev)
		}
		names[e.Name] = pointer(ptr, "name")
	}
	sources := 0
	if e.Value != nil {
		sources++
		nv.noSecretEnv(pointer(ptr, "value"), e.Name, *e.Value)
	}
	for _, ref := range []struct {
		field string
		ref   *KeyRef
		kind  Kind
	}{{"secretKeyRef", e.SecretKeyRef, KindSecret}, {"configMapKeyRef", e.ConfigMapKeyRef, KindConfigMap}} {
		if ref.ref == nil {
			continue
		}
		sources++
		rp := pointer(ptr, ref.field)
		nv.dns1123Subdomain(pointer(rp, "name"), nv.node.ID, ref.ref.Name)
		if ref.ref.Key == "" {
			nv.add(pointer(rp, "key"), "is required")
			continue
		}
		nv.report(pointer(rp, "key"), nv.node.ID, ref.ref.Key, validation.IsConfigMapKey(ref.ref.Key))
		nv.keyDeclared(pointer(rp, "key"), ref.kind, ref.ref.Name, ref.ref.Key)
	}
	if sources > 1 {
		nv.add(ptr, "needs at most one of value, secretKeyRef and configMapKeyRef, not %d; with none, the value is the key %q of the Secret %q", sources, EnvSecretKey(nv.node.Name(), e.Name), EnvSecretName(nv.wf.Name))
	}
}

// keyDeclared checks that a key reference to a ConfigMap or Secret node of
// this workflow names a key the node has.
func (nv *nodeValidator) keyDeclared(ptr string, kind Kind, name, key string) {
	for i := range nv.wf.Nodes {
		n := &nv.wf.Nodes[i]
		if n.Type != kind || n.Spec == nil || n.Name() != name {
			continue
		}
		var keys []string
		switch d := n.Spec.(type) {
		case *SecretData:
			for _, k := range d.Keys {
				keys = append(keys, k.Name)
			}
		case *ConfigMapData:
			keys = sortedKeys(d.Data)
		}
		for _, k := range keys {
			if k == key {
				return
			}
		}
		nv.add(ptr, "%s %q (node %q) has no key %q; it has %s", kind, name, n.ID, key, quoteList(keys))
	}
}

func quoteList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

func (nv *nodeValidator) resources(r *Resources) {
	if r == nil {
		return
	}
	parse := func(field, sub, s string) *resource.Quantity {
		if s == "" {
			return nil
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			nv.add(nv.at("resources", field, sub), "%q is not a quantity (like 250m, 1, 512Mi): %v", s, err)
			return nil
		}
		if q.Sign() < 0 {
			nv.add(nv.at("resources", field, sub), "%q must not be negative", s)
			return nil
		}
		return &q
	}
	get := func(field string, l *ResourceList) (cpu, mem *resource.Quantity) {
		if l == nil {
			return nil, nil
		}
		return parse(field, "cpu", l.CPU), parse(field, "memory", l.Memory)
	}
	limCPU, limMem := get("limits", r.Limits)
	reqCPU, reqMem := get("requests", r.Requests)
	if limCPU != nil && reqCPU != nil && reqCPU.Cmp(*limCPU) > 0 {
		nv.add(nv.at("resources", "requests", "cpu"), "request %s exceeds the limit %s", reqCPU, limCPU)
	}
	if limMem != nil && reqMem != nil && reqMem.Cmp(*limMem) > 0 {
		nv.add(nv.at("resources", "requests", "memory"), "request %s exceeds the limit %s", reqMem, limMem)
	}
}

func (nv *nodeValidator) probe(field string, p *Probe) {
	if p == nil {
		return
	}
	handlers := 0
	if len(p.Command) > 0 {
		handlers++
	}
	if p.Exec != nil {
		handlers++
		if len(p.Exec.Command) == 0 {
			nv.add(nv.at(field, "exec", "command"), "is required")
		}
	}
	if p.HTTPGet != nil {
		handlers++
		if !strings.HasPrefix(p.HTTPGet.Path, "/") {
			nv.add(nv.at(field, "httpGet", "path"), "%q must start with /", p.HTTPGet.Path)
		}
		nv.port(nv.at(field, "httpGet", "port"), nv.node.ID, p.HTTPGet.Port, true)
	}
	if p.TCPPort != 0 {
		handlers++
		nv.port(nv.at(field, "tcpPort"), nv.node.ID, p.TCPPort, true)
	}
	if handlers != 1 {
		nv.add(nv.at(field), "needs exactly one of command (or exec.command), httpGet and tcpPort, not %d", handlers)
	}
	nv.nonNegative(nv.at(field, "initialDelaySeconds"), nv.node.ID, p.InitialDelaySeconds)
	nv.positive(nv.at(field, "periodSeconds"), nv.node.ID, p.PeriodSeconds)
	nv.positive(nv.at(field, "timeoutSeconds"), nv.node.ID, p.TimeoutSeconds)
	nv.positive(nv.at(field, "failureThreshold"), nv.node.ID, p.FailureThreshold)
	nv.positive(nv.at(field, "successThreshold"), nv.node.ID, p.SuccessThreshold)
	if field == "livenessProbe" && p.SuccessThreshold != nil && *p.SuccessThreshold != 1 {
		nv.add(nv.at(field, "successThreshold"), "must be 1 for a liveness probe")
	}
}

var accessModes = []string{"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}

func (nv *nodeValidator) storage(ptr, s string) {
	if s == "" {
		nv.add(ptr, "is required (like 10Gi)")
		return
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		nv.add(ptr, "%q is not a quantity (like 10Gi): %v", s, err)
		return
	}
	if q.Sign() <= 0 {
		nv.add(ptr, "%q must be more than zero", s)
	}
}

func (nv *nodeValidator) accessModes(ptr string, modes []string) {
	if len(modes) == 0 {
		nv.add(ptr, "needs at least one access mode (%s)", strings.Join(accessModes, ", "))
	}
	for i, m := range modes {
		nv.oneOf(pointer(ptr, i), nv.node.ID, m, accessModes...)
	}
}

func (nv *nodeValidator) statefulSet(d *StatefulSetData) {
	if d.ServiceName == "" {
		nv.add(nv.at("serviceName"), "is required: the headless Service that gives pods their DNS names")
	} else {
		nv.report(nv.at("serviceName"), nv.node.ID, d.ServiceName, validation.IsDNS1035Label(d.ServiceName))
	}
	nv.nonNegative(nv.at("replicas"), nv.node.ID, d.Replicas)
	names := map[string]bool{}
	for i, t := range d.VolumeClaimTemplates {
		if nv.dns1123Label(nv.at("volumeClaimTemplates", i, "name"), nv.node.ID, t.Name) && names[t.Name] {
			nv.add(nv.at("volumeClaimTemplates", i, "name"), "%q is used twice", t.Name)
		}
		names[t.Name] = true
		if t.StorageClassName != "" {
			nv.dns1123Subdomain(nv.at("volumeClaimTemplates", i, "storageClassName"), nv.node.ID, t.StorageClassName)
		}
		nv.accessModes(nv.at("volumeClaimTemplates", i, "accessModes"), t.AccessModes)
		nv.storage(nv.at("volumeClaimTemplates", i, "storage"), t.Storage)
		if t.MountPath != "" {
			nv.absPath(nv.at("volumeClaimTemplates", i, "mountPath"), nv.node.ID, t.MountPath)
		}
	}
}

func (nv *nodeValidator) daemonSet(d *DaemonSetData) {
	id := nv.node.ID
	nv.labels(nv.at("nodeSelector"), id, d.NodeSelector, true)
	for i, t := range d.Tolerations {
		nv.oneOf(nv.at("tolerations", i, "operator"), id, t.Operator, "Exists", "Equal")
		nv.oneOf(nv.at("tolerations", i, "effect"), id, t.Effect, "NoSchedule", "PreferNoSchedule", "NoExecute")
		if t.Operator == "Exists" && t.Value != "" {
			nv.add(nv.at("tolerations", i, "value"), "must be empty when operator is Exists")
		}
		if t.Key == "" && t.Operator != "Exists" {
			nv.add(nv.at("tolerations", i, "operator"), "must be Exists when key is empty")
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			nv.add(nv.at("tolerations", i, "tolerationSeconds"), "is allowed only with effect NoExecute")
		}
	}
	nv.oneOf(nv.at("updateStrategy"), id, d.UpdateStrategy, "RollingUpdate", "OnDelete")
	if d.MaxUnavailable != "" {
		if d.UpdateStrategy == "OnDelete" {
			nv.add(nv.at("maxUnavailable"), "is allowed only with updateStrategy RollingUpdate")
		}
		if strings.HasSuffix(d.MaxUnavailable, "%") {
			nv.report(nv.at("maxUnavailable"), id, d.MaxUnavailable, validation.IsValidPercent(d.MaxUnavailable))
		} else if n, err := strconv.Atoi(d.MaxUnavailable); err != nil || n < 1 {
			nv.add(nv.at("maxUnavailable"), "%q must be a count of 1 or more or a percentage like 10%%", d.MaxUnavailable)
		}
	}
}

func (nv *nodeValidator) job(d *JobData) {
	nv.jobSpec(&d.JobSpec)
	if d.TTLSecondsAfterFinished != nil {
		nv.add(nv.at("ttlSecondsAfterFinished"), "a job Flux applies is deleted by its TTL and created again by the next reconciliation, so it would run every interval; remove it (a cronjob may keep it)")
	}
}

// jobSpec checks the fields jobs and cronjobs share.
func (nv *nodeValidator) jobSpec(j *JobSpec) {
	id := nv.node.ID
	nv.nonNegative(nv.at("completions"), id, j.Completions)
	nv.nonNegative(nv.at("parallelism"), id, j.Parallelism)
	nv.nonNegative(nv.at("backoffLimit"), id, j.BackoffLimit)
	nv.positive(nv.at("activeDeadlineSeconds"), id, j.ActiveDeadlineSeconds)
	nv.nonNegative(nv.at("ttlSecondsAfterFinished"), id, j.TTLSecondsAfterFinished)
	nv.oneOf(nv.at("restartPolicy"), id, j.RestartPolicy, "Never", "OnFailure")
}

// cronFields are the fields of a Kubernetes CronJob schedule.
const cronFields = cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor

// The expressions below compile on first use: most runs never need them.
var timeZoneName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`)
})

func (nv *nodeValidator) cronJob(d *CronJobData) {
	id := nv.node.ID
	nv.jobSpec(&d.JobSpec)
	switch {
	case d.Schedule == "":
		nv.add(nv.at("schedule"), "is required (like \"0 2 * * *\")")
	case strings.Contains(d.Schedule, "TZ=") || strings.Contains(d.Schedule, "CRON_TZ="):
		nv.add(nv.at("schedule"), "%q must not set a time zone; use timeZone", d.Schedule)
	default:
		if _, err := cron.NewParser(cronFields).Parse(d.Schedule); err != nil {
			nv.add(nv.at("schedule"), "%q is not a cron schedule: %v", d.Schedule, err)
		}
	}
	if d.TimeZone != "" && !timeZoneName().MatchString(d.TimeZone) {
		nv.add(nv.at("timeZone"), "%q is not an IANA time zone name (like Europe/Berlin)", d.TimeZone)
	}
	nv.oneOf(nv.at("concurrencyPolicy"), id, d.ConcurrencyPolicy, "Allow", "Forbid", "Replace")
	nv.nonNegative(nv.at("successfulJobsHistoryLimit"), id, d.SuccessfulJobsHistoryLimit)
	nv.nonNegative(nv.at("failedJobsHistoryLimit"), id, d.FailedJobsHistoryLimit)
	nv.nonNegative(nv.at("startingDeadlineSeconds"), id, d.StartingDeadlineSeconds)
}

func (nv *nodeValidator) service(d *ServiceData) {
	id := nv.node.ID
	nv.oneOf(nv.at("serviceType"), id, d.ServiceType, "ClusterIP", "NodePort", "LoadBalancer")
	nv.oneOf(nv.at("sessionAffinity"), id, d.SessionAffinity, "None", "ClientIP")
	if d.Headless && d.ServiceType != "" && d.ServiceType != "ClusterIP" {
		nv.add(nv.at("headless"), "a headless service must have serviceType ClusterIP, not %s", d.ServiceType)
	}
	nv.port(nv.at("port"), id, d.Port, false)
	nv.port(nv.at("targetPort"), id, d.TargetPort, false)
	if len(d.Ports) > 0 && (d.Port != 0 || d.TargetPort != 0) {
		nv.add(nv.at("ports"), "give either port/targetPort or ports, not both")
	}
	seen := map[string]bool{}
	names := map[string]bool{}
	for i, p := range d.Ports {
		nv.port(nv.at("ports", i, "port"), id, p.Port, true)
		nv.port(nv.at("ports", i, "targetPort"), id, p.TargetPort, false)
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		if k := fmt.Sprint(p.Port, "/", proto); seen[k] {
			nv.add(nv.at("ports", i, "port"), "port %d/%s is used twice", p.Port, proto)
		} else {
			seen[k] = true
		}
		if p.NodePort != 0 {
			if d.ServiceType != "NodePort" && d.ServiceType != "LoadBalancer" {
				nv.add(nv.at("ports", i, "nodePort"), "is allowed only with serviceType NodePort or LoadBalancer")
			}
			nv.port(nv.at("ports", i, "nodePort"), id, p.NodePort, true)
		}
		nv.oneOf(nv.at("ports", i, "protocol"), id, p.Protocol, "TCP", "UDP", "SCTP")
		if len(d.Ports) > 1 && p.Name == "" {
			nv.add(nv.at("ports", i, "name"), "is required when a service has several ports")
		} else if p.Name != "" {
			nv.report(nv.at("ports", i, "name"), id, p.Name, validation.IsDNS1123Label(p.Name))
			if names[p.Name] {
				nv.add(nv.at("ports", i, "name"), "%q is used twice", p.Name)
			}
			names[p.Name] = true
		}
	}
	nv.labels(nv.at("selector"), id, d.Selector, true)
}

func (nv *nodeValidator) ingress(d *IngressData) {
	id := nv.node.ID
	if d.Host != "" {
		nv.host(nv.at("host"), d.Host)
	}
	if len(d.Paths) == 0 {
		nv.add(nv.at("paths"), "needs at least one path")
	}
	ids := map[string]bool{}
	routes := map[string]bool{}
	for i, p := range d.Paths {
		switch {
		case p.ID == "":
			nv.add(nv.at("paths", i, "id"), "is required: edges name the path by its id")
		case ids[p.ID]:
			nv.add(nv.at("paths", i, "id"), "%q is used twice", p.ID)
		}
		ids[p.ID] = true
		if !strings.HasPrefix(p.Path, "/") {
			nv.add(nv.at("paths", i, "path"), "%q must start with /", p.Path)
		}
		nv.oneOf(nv.at("paths", i, "pathType"), id, p.PathType, "Prefix", "Exact", "ImplementationSpecific")
		if routes[p.PathType+" "+p.Path] {
			nv.add(nv.at("paths", i, "path"), "%q is routed twice", p.Path)
		}
		routes[p.PathType+" "+p.Path] = true
		nv.port(nv.at("paths", i, "servicePort"), id, p.ServicePort, false)
	}
	if d.IngressClassName != "" {
		nv.dns1123Subdomain(nv.at("ingressClassName"), id, d.IngressClassName)
	}
	if d.TLSEnabled && d.TLSSecretName == "" {
		nv.add(nv.at("tlsSecretName"), "is required when tlsEnabled is true")
	}
	if d.TLSSecretName != "" {
		nv.dns1123Subdomain(nv.at("tlsSecretName"), id, d.TLSSecretName)
	}
	for i, h := range d.TLSHosts {
		nv.host(nv.at("tlsHosts", i), h)
	}
}

// host checks a host name, which may start with a wildcard label.
func (nv *nodeValidator) host(ptr, h string) {
	if strings.HasPrefix(h, "*.") {
		nv.report(ptr, nv.node.ID, h, validation.IsWildcardDNS1123Subdomain(h))
		return
	}
	nv.dns1123Subdomain(ptr, nv.node.ID, h)
}

func (nv *nodeValidator) configMap(d *ConfigMapData) {
	size := 0
	for _, k := range sortedKeys(d.Data) {
		nv.report(nv.at("data", k), nv.node.ID, k, validation.IsConfigMapKey(k))
		nv.noSecretValue(nv.at("data", k), nv.node.ID, k, d.Data[k])
		size += len(k) + len(d.Data[k])
	}
	if size > 1<<20 {
		nv.add(nv.at("data"), "holds %d bytes; a ConfigMap may hold 1 MiB", size)
	}
	if d.MountPath != "" {
		nv.absPath(nv.at("mountPath"), nv.node.ID, d.MountPath)
	}
}

// secretTypeKeys lists the keys each Secret type requires.
var secretTypeKeys = map[string][]string{
	"Opaque":                         nil,
	"kubernetes.io/tls":              {"tls.crt", "tls.key"},
	"kubernetes.io/dockerconfigjson": {".dockerconfigjson"},
	"kubernetes.io/basic-auth":       nil,
	"kubernetes.io/ssh-auth":         {"ssh-privatekey"},
}

func (nv *nodeValidator) secret(d *SecretData) {
	if d.SecretType != "" {
		if _, ok := secretTypeKeys[d.SecretType]; !ok {
			nv.oneOf(nv.at("secretType"), nv.node.ID, d.SecretType, sortedKeys(secretTypeKeys)...)
		}
	}
	have := map[string]bool{}
	for i, k := range d.Keys {
		if k.Name == "" {
			nv.c.canvasDefault(nv.at("keys", i, "name"), nv.node.ID, "is required")
			continue
		}
		nv.report(nv.at("keys", i, "name"), nv.node.ID, k.Name, validation.IsConfigMapKey(k.Name))
		if have[k.Name] {
			nv.add(nv.at("keys", i, "name"), "%q is listed twice", k.Name)
		}
		have[k.Name] = true
	}
	for _, want := range secretTypeKeys[d.SecretType] {
		if !have[want] {
			nv.add(nv.at("keys"), "a %s secret needs the key %q", d.SecretType, want)
		}
	}
	if d.MountPath != "" {
		nv.absPath(nv.at("mountPath"), nv.node.ID, d.MountPath)
	}
	nv.sopsFile(d)
}

func (nv *nodeValidator) hpa(d *HPAData) {
	id := nv.node.ID
	nv.oneOf(nv.at("scaleTargetKind"), id, d.ScaleTargetKind, "Deployment", "StatefulSet")
	if d.MaxReplicas < 1 {
		nv.add(nv.at("maxReplicas"), "must be 1 or more, not %d", d.MaxReplicas)
	}
	nv.positive(nv.at("minReplicas"), id, d.MinReplicas)
	if d.MinReplicas != nil && *d.MinReplicas > d.MaxReplicas {
		nv.add(nv.at("minReplicas"), "%d exceeds maxReplicas %d", *d.MinReplicas, d.MaxReplicas)
	}
	nv.positive(nv.at("targetCPUUtilization"), id, d.TargetCPUUtilization)
	nv.positive(nv.at("targetMemoryUtilization"), id, d.TargetMemoryUtilization)
	for _, w := range []struct {
		field string
		v     *int64
	}{{"scaleDownStabilization", d.ScaleDownStabilization}, {"scaleUpStabilization", d.ScaleUpStabilization}} {
		if w.v != nil && (*w.v < 0 || *w.v > 3600) {
			nv.add(nv.at(w.field), "must be 0..3600 seconds, not %d", *w.v)
		}
	}
}

func (nv *nodeValidator) networkPolicy(d *NetworkPolicyData) {
	id := nv.node.ID
	nv.labels(nv.at("podSelector"), id, d.PodSelector, true)
	types := map[string]bool{}
	for i, t := range d.PolicyTypes {
		nv.oneOf(nv.at("policyTypes", i), id, t, "Ingress", "Egress")
		if types[t] {
			nv.add(nv.at("policyTypes", i), "%q is listed twice", t)
		}
		types[t] = true
	}
	if len(d.PolicyTypes) > 0 {
		if len(d.IngressRules) > 0 && !types["Ingress"] {
			nv.add(nv.at("ingressRules"), "has rules but policyTypes lacks Ingress")
		}
		if len(d.EgressRules) > 0 && !types["Egress"] {
			nv.add(nv.at("egressRules"), "has rules but policyTypes lacks Egress")
		}
	}
	for _, rules := range []struct {
		field string
		rules []NetworkPolicyRule
	}{{"ingressRules", d.IngressRules}, {"egressRules", d.EgressRules}} {
		ruleIDs := map[string]string{}
		for i, r := range rules.rules {
			if r.ID != "" {
				if prev, dup := ruleIDs[r.ID]; dup {
					nv.add(nv.at(rules.field, i, "id"), "%q is also the id of %s; edges name a rule by its id", r.ID, prev)
				}
				ruleIDs[r.ID] = nv.at(rules.field, i)
			}
			field, peers := r.PeerField(rules.field == "egressRules")
			if r.Peers != nil && (r.From != nil || r.To != nil) {
				nv.add(nv.at(rules.field, i, "peers"), "cannot be combined with from or to; they are the same list")
			}
			if wrong := map[bool][]NetworkPeer{true: r.From, false: r.To}[rules.field == "egressRules"]; wrong != nil {
				nv.add(nv.at(rules.field, i, map[bool]string{true: "from", false: "to"}[rules.field == "egressRules"]),
					"an %s rule names its peers in %s", strings.TrimSuffix(rules.field, "Rules"), field)
			}
			for j, p := range peers {
				nv.peer(nv.at(rules.field, i, field, j), p)
			}
			for j, p := range r.Ports {
				pp := nv.at(rules.field, i, "ports", j)
				nv.oneOf(pointer(pp, "protocol"), id, p.Protocol, "TCP", "UDP", "SCTP")
				if p.Port.Name != "" {
					nv.report(pointer(pp, "port"), id, p.Port.Name, validation.IsValidPortName(p.Port.Name))
				} else {
					nv.port(pointer(pp, "port"), id, p.Port.Number, false)
				}
				if p.EndPort != 0 {
					nv.port(pointer(pp, "endPort"), id, p.EndPort, true)
					if p.Port.Number == 0 || p.EndPort < p.Port.Number {
						nv.add(pointer(pp, "endPort"), "%d needs a numbered port no greater than it", p.EndPort)
					}
				}
			}
		}
	}
}

func (nv *nodeValidator) peer(ptr string, p NetworkPeer) {
	nv.selector(pointer(ptr, "podSelector"), p.PodSelector)
	nv.selector(pointer(ptr, "namespaceSelector"), p.NamespaceSelector)
	if p.IPBlock == nil {
		if p.PodSelector == nil && p.NamespaceSelector == nil {
			nv.add(ptr, "needs podSelector, namespaceSelector or ipBlock")
		}
		return
	}
	if p.PodSelector != nil || p.NamespaceSelector != nil {
		nv.add(pointer(ptr, "ipBlock"), "cannot be combined with podSelector or namespaceSelector")
	}
	cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
	if err != nil {
		nv.add(pointer(ptr, "ipBlock", "cidr"), "%q is not a CIDR (like 10.0.0.0/8): %v", p.IPBlock.CIDR, err)
		return
	}
	for i, e := range p.IPBlock.Except {
		ex, err := netip.ParsePrefix(e)
		switch {
		case err != nil:
			nv.add(pointer(ptr, "ipBlock", "except", i), "%q is not a CIDR: %v", e, err)
		case !cidr.Contains(ex.Addr()) || ex.Bits() < cidr.Bits():
			nv.add(pointer(ptr, "ipBlock", "except", i), "%q is not inside %q", e, p.IPBlock.CIDR)
		}
	}
}

// selector checks a label selector of a network policy peer.
func (nv *nodeValidator) selector(ptr string, s *LabelSelector) {
	if s == nil {
		return
	}
	id := nv.node.ID
	nv.labels(pointer(ptr, "matchLabels"), id, s.MatchLabels, true)
	for i, e := range s.MatchExpressions {
		ep := pointer(ptr, "matchExpressions", i)
		if msgs := content.IsLabelKey(e.Key); len(msgs) > 0 {
			nv.add(pointer(ep, "key"), "label key %q is invalid: %s", e.Key, strings.Join(msgs, "; "))
		}
		switch e.Operator {
		case "In", "NotIn":
			if len(e.Values) == 0 {
				nv.add(pointer(ep, "values"), "is required for the operator %s", e.Operator)
			}
		case "Exists", "DoesNotExist":
			if len(e.Values) > 0 {
				nv.add(pointer(ep, "values"), "must be empty for the operator %s", e.Operator)
			}
		default:
			nv.oneOf(pointer(ep, "operator"), id, e.Operator, "In", "NotIn", "Exists", "DoesNotExist")
		}
		for j, v := range e.Values {
			if msgs := content.IsLabelValue(v); len(msgs) > 0 {
				nv.add(pointer(ep, "values", j), "label value %q is invalid: %s", v, strings.Join(msgs, "; "))
			}
		}
	}
}

func (nv *nodeValidator) pvc(d *PersistentVolumeClaimData) {
	if d.StorageClassName != "" {
		nv.dns1123Subdomain(nv.at("storageClassName"), nv.node.ID, d.StorageClassName)
	}
	nv.accessModes(nv.at("accessModes"), d.AccessModes)
	nv.storage(nv.at("storage"), d.Storage)
	nv.oneOf(nv.at("volumeMode"), nv.node.ID, d.VolumeMode, "Filesystem", "Block")
}

var (
	apiVersionRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$`)
	})
	kindRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`) })
	fieldIDRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$`)
	})
)

func (nv *nodeValidator) plugin(d *PluginData) {
	if d.APIVersion == "" {
		nv.add(nv.at("apiVersion"), "is required (like example.com/v1)")
	} else if !apiVersionRE().MatchString(d.APIVersion) {
		nv.add(nv.at("apiVersion"), "%q is not an API version (like example.com/v1)", d.APIVersion)
	}
	switch {
	case d.Kind == "":
		nv.add(nv.at("kind"), "is required (like Certificate)")
	case !kindRE().MatchString(d.Kind):
		nv.add(nv.at("kind"), "%q is not a kind: it starts with a capital letter and has letters and digits only", d.Kind)
	case d.Kind == "Secret" && (d.APIVersion == "v1" || d.APIVersion == ""):
		nv.add(nv.at("kind"), "a plugin cannot render a Secret; use a secret node, whose values live outside git")
	}
	ids := map[string]bool{}
	for i, f := range d.Fields {
		fp := nv.at("_pluginFields", i)
		switch {
		case !fieldIDRE().MatchString(f.ID):
			nv.add(pointer(fp, "id"), "%q is not a field id (letters, digits, _ and -, dots for nesting)", f.ID)
		case ids[f.ID]:
			nv.add(pointer(fp, "id"), "%q is defined twice", f.ID)
		case isPluginOwnField(f.ID):
			nv.add(pointer(fp, "id"), "%q is a field of the plugin node itself", f.ID)
		}
		ids[f.ID] = true
		if f.Type == "" {
			nv.add(pointer(fp, "type"), "is required: %s", strings.Join(pluginFieldTypes, ", "))
		} else {
			nv.oneOf(pointer(fp, "type"), nv.node.ID, f.Type, pluginFieldTypes...)
		}
		val, set := d.Values[f.ID]
		if f.Required && !set && f.Default == nil {
			nv.add(nv.at(f.ID), "is required by the plugin field %q", f.ID)
		}
		if s, ok := val.(string); ok && f.Type == "select" && !contains(f.OptionValues(), s) {
			nv.add(nv.at(f.ID), "%q is not one of the options %s", s, quoteList(f.OptionValues()))
		}
		nv.noSecretValues(nv.at(f.ID), f.ID, val)
	}
}

// pluginFieldTypes are the types of plugin fields (textarea is text in
// KubeOrch's editor); list and object values
// are rendered as JSON arrays and objects.
var pluginFieldTypes = []string{"text", "textarea", "number", "select", "boolean", "list", "object"}

// pluginSecretHint says where a plugin's secret value belongs instead.
const pluginSecretHint = "refer to a Secret of the cluster in the resource's own secret reference field"

// noSecretValues checks every string in a plugin value, at any depth, as
// environment values are checked: key names the innermost key, so that a
// literal under a credential's name is refused, and so is the value of a
// {name, value} pair whose name is a credential's.
func (nv *nodeValidator) noSecretValues(ptr, key string, v any) {
	switch x := v.(type) {
	case string:
		nv.noCredential(ptr, key, x, pluginSecretHint)
	case []any:
		for i, e := range x {
			nv.noSecretValues(pointer(ptr, i), key, e)
		}
	case map[string]any:
		name, _ := x["name"].(string)
		for _, k := range sortedKeys(x) {
			if value, ok := x[k].(string); ok && k == "value" && LooksLikeCredential(name) {
				nv.noCredential(pointer(ptr, k), name, value, pluginSecretHint)
				continue
			}
			nv.noSecretValues(pointer(ptr, k), k, x[k])
		}
	}
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}
