package workflow

import "encoding/json"

// NodeSpec is the decoded data of a node; each kind has its own type.
type NodeSpec interface {
	// ObjectMeta returns the fields every kind shares.
	ObjectMeta() *Meta
}

// Meta holds the fields every node kind shares.
type Meta struct {
	// Name is the Kubernetes object name.
	Name string `json:"name"`
	// Namespace, when set, must equal the workflow's namespace.
	Namespace string `json:"namespace,omitempty"`
	// Labels are added to the object (and to pod templates of workloads).
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to the object.
	Annotations map[string]string `json:"annotations,omitempty"`
	// TemplateID names the canvas template the node came from.
	TemplateID string `json:"templateId,omitempty"`
}

// ObjectMeta implements NodeSpec.
func (m *Meta) ObjectMeta() *Meta { return m }

// Resources are CPU and memory requests and limits, as Kubernetes quantities.
type Resources struct {
	Limits   *ResourceList `json:"limits,omitempty"`
	Requests *ResourceList `json:"requests,omitempty"`
}

// ResourceList is a CPU and memory pair.
type ResourceList struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// EnvVarEntry defines one environment variable, with a literal value or a
// reference to a key of a ConfigMap or Secret. An entry with a name only
// (as KubeOrch's editor saves envKeys, whose values it supplies at run
// time) reads the key EnvSecretKey of its workload and name from the
// workflow's environment Secret, EnvSecretName, which the compiler
// renders only from its SOPS-encrypted file in the repository and which
// is otherwise created in the cluster (see docs/secrets.md); the pod does
// not start until it holds the key. Decode fills in that SecretKeyRef.
type EnvVarEntry struct {
	// ID is a stable id for the editor.
	ID string `json:"id,omitempty"`
	// Name is the variable name.
	Name string `json:"name"`
	// Value is a literal value.
	Value *string `json:"value,omitempty"`
	// SecretKeyRef reads the value from a Secret key.
	SecretKeyRef *KeyRef `json:"secretKeyRef,omitempty"`
	// ConfigMapKeyRef reads the value from a ConfigMap key.
	ConfigMapKeyRef *KeyRef `json:"configMapKeyRef,omitempty"`
}

// KeyRef names a key of a ConfigMap or Secret.
type KeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// Optional lets the pod start when the key is missing.
	Optional bool `json:"optional,omitempty"`
}

// VolumeMount says where a linked ConfigMap, Secret or PVC is mounted.
type VolumeMount struct {
	// NodeID is the id of the linked node; an edge must link it. An
	// emptyDir volume has none.
	NodeID string `json:"nodeId,omitempty"`
	// Type is the linked node's kind as the editor writes it:
	// configMap, secret or persistentVolumeClaim; or emptyDir
	// (VolumeEmptyDir) for a scratch directory that links no node.
	Type string `json:"type,omitempty"`
	// Name is the linked node's object name, as copied by the editor;
	// of an emptyDir, the volume's name.
	Name string `json:"name,omitempty"`
	// MountPath is the path in the container.
	MountPath string `json:"mountPath"`
	// SubPath mounts one key or sub-directory only.
	SubPath string `json:"subPath,omitempty"`
	// ReadOnly mounts the volume read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
}

// ContainerPort is one extra port of a container.
type ContainerPort struct {
	Name     string `json:"name,omitempty"`
	Port     int64  `json:"port"`
	Protocol string `json:"protocol,omitempty"`
}

// Probe is a health check of a container.
type Probe struct {
	// Command runs in the container; exit 0 is healthy.
	Command []string `json:"command,omitempty"`
	// Exec is Command as Kubernetes (and KubeOrch's compose importer)
	// writes it; Decode moves it into Command.
	Exec *ExecAction `json:"exec,omitempty"`
	// HTTPGet probes an HTTP path.
	HTTPGet *HTTPGetProbe `json:"httpGet,omitempty"`
	// TCPPort probes a TCP port.
	TCPPort int64 `json:"tcpPort,omitempty"`

	InitialDelaySeconds *int64 `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       *int64 `json:"periodSeconds,omitempty"`
	TimeoutSeconds      *int64 `json:"timeoutSeconds,omitempty"`
	FailureThreshold    *int64 `json:"failureThreshold,omitempty"`
	SuccessThreshold    *int64 `json:"successThreshold,omitempty"`
}

// ExecAction is a command a probe runs in the container.
type ExecAction struct {
	Command []string `json:"command"`
}

// HTTPGetProbe probes an HTTP path on a port.
type HTTPGetProbe struct {
	Path string `json:"path"`
	Port int64  `json:"port"`
}

// BuildSpec is where and how an image is built.
type BuildSpec struct {
	// RepoURL is the git repository built from; the service builds a node
	// only when it is set (docs/builds.md).
	RepoURL string `json:"repoUrl,omitempty"`
	// Branch is the branch of RepoURL whose pushes are built (default
	// main).
	Branch string `json:"branch,omitempty"`
	// Context is the build context: a directory of the repository or a URL.
	Context string `json:"context"`
	// Dockerfile is the Dockerfile's path within the context.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Args are build arguments.
	Args map[string]string `json:"args,omitempty"`
	// Target is the stage of a multi-stage build.
	Target string `json:"target,omitempty"`
}

// ImagePolicy makes a node follow its image's tags: the newest tag of
// the image's repository that the policy admits is written back to the
// node, by digest. Exactly one of Semver and Pattern is set.
type ImagePolicy struct {
	// Semver admits the tags that are versions in this range (">=1.2 <2",
	// "^1", "~1.4"); the highest version is the newest.
	Semver string `json:"semver,omitempty"`
	// Pattern admits the tags this regular expression matches whole; the
	// last in alphabetical order is the newest.
	Pattern string `json:"pattern,omitempty"`
}

// Container holds the fields of the single container of a workload.
type Container struct {
	// Image is the container image reference.
	Image string `json:"image"`
	// Port is the main container port.
	Port int64 `json:"port,omitempty"`
	// Ports are further container ports.
	Ports []ContainerPort `json:"ports,omitempty"`
	// Command replaces the image's entrypoint.
	Command []string `json:"command,omitempty"`
	// Args replaces the image's command.
	Args []string `json:"args,omitempty"`
	// Env holds literal environment variables.
	Env map[string]string `json:"env,omitempty"`
	// EnvKeys holds variables with references to ConfigMap or Secret keys.
	EnvKeys []EnvVarEntry `json:"envKeys,omitempty"`
	// Resources are requests and limits.
	Resources *Resources `json:"resources,omitempty"`
	// VolumeMounts say where linked ConfigMaps, Secrets and PVCs are mounted.
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty"`
	// ImagePullPolicy is Always, IfNotPresent or Never.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
	// Build says how to build the image from source; the image is then
	// the build's result. Nodes imported from compose services with a
	// build section carry it.
	Build *BuildSpec `json:"build,omitempty"`
	// ImagePolicy, when set, follows the image's tags.
	ImagePolicy *ImagePolicy `json:"imagePolicy,omitempty"`
	// LivenessProbe restarts the container when it fails.
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`
	// ReadinessProbe removes the pod from Services while it fails.
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`

	// SecurityContext hardens the container.
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
	// PodSecurityContext hardens the pod: it applies to every container,
	// the wait-for init containers included, unless they set their own.
	PodSecurityContext *PodSecurityContext `json:"podSecurityContext,omitempty"`
	// ServiceAccountName is the pod's service account; it must exist in the
	// namespace.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// AutomountServiceAccountToken false keeps the API token out of the pod.
	AutomountServiceAccountToken *bool `json:"automountServiceAccountToken,omitempty"`

	// LinkedConfigMaps are editor copies of linked ConfigMap node ids.
	LinkedConfigMaps []string `json:"_linkedConfigMaps,omitempty"`
	// LinkedSecrets are editor copies of linked Secret node ids.
	LinkedSecrets []string `json:"_linkedSecrets,omitempty"`
	// LinkedPVCs are editor copies of linked PVC node ids.
	LinkedPVCs []string `json:"_linkedPVCs,omitempty"`
}

// SecurityContext is the security settings of a container, as Kubernetes
// names them.
type SecurityContext struct {
	RunAsUser                *int64          `json:"runAsUser,omitempty"`
	RunAsGroup               *int64          `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	Privileged               *bool           `json:"privileged,omitempty"`
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
}

// PodSecurityContext is the security settings of a pod, as Kubernetes
// names them.
type PodSecurityContext struct {
	RunAsUser          *int64          `json:"runAsUser,omitempty"`
	RunAsGroup         *int64          `json:"runAsGroup,omitempty"`
	RunAsNonRoot       *bool           `json:"runAsNonRoot,omitempty"`
	FSGroup            *int64          `json:"fsGroup,omitempty"`
	SupplementalGroups []int64         `json:"supplementalGroups,omitempty"`
	SeccompProfile     *SeccompProfile `json:"seccompProfile,omitempty"`
}

// Capabilities are Linux capabilities to add and drop ("NET_BIND_SERVICE",
// "ALL").
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// SeccompProfile selects a seccomp profile: RuntimeDefault, Localhost (with
// LocalhostProfile) or Unconfined.
type SeccompProfile struct {
	Type             string `json:"type"`
	LocalhostProfile string `json:"localhostProfile,omitempty"`
}

// ContainerSpec returns the container fields of a workload spec.
func (c *Container) ContainerSpec() *Container { return c }

// Workload is a NodeSpec that runs pods.
type Workload interface {
	NodeSpec
	ContainerSpec() *Container
}

// DeploymentData is the data of a deployment node.
type DeploymentData struct {
	Meta
	Container
	// Replicas is the desired pod count; absent means the cluster default.
	Replicas *int64 `json:"replicas,omitempty"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Port       int64  `json:"port"`
	TargetPort int64  `json:"targetPort,omitempty"`
	NodePort   int64  `json:"nodePort,omitempty"`
}

// ServiceData is the data of a service node.
type ServiceData struct {
	Meta
	// ServiceType is ClusterIP, NodePort or LoadBalancer.
	ServiceType string `json:"serviceType,omitempty"`
	// TargetApp is the editor's copy of the linked workload's name.
	TargetApp string `json:"targetApp,omitempty"`
	// Port is the service port.
	Port int64 `json:"port,omitempty"`
	// TargetPort is the container port; it defaults to the workload's port.
	TargetPort int64 `json:"targetPort,omitempty"`
	// Ports are multi-port definitions; they replace Port and TargetPort.
	Ports []ServicePort `json:"ports,omitempty"`
	// Selector selects pods when no workload is linked.
	Selector map[string]string `json:"selector,omitempty"`
	// SessionAffinity is None or ClientIP.
	SessionAffinity string `json:"sessionAffinity,omitempty"`
	// Headless makes a Service without a cluster IP (clusterIP: None).
	Headless bool `json:"headless,omitempty"`
	// LinkedDeployment is the editor's copy of the linked workload node id.
	LinkedDeployment string `json:"_linkedDeployment,omitempty"`
}

// IngressPath is one routing rule of an Ingress.
type IngressPath struct {
	// ID names the path; edges name it in sourceHandle.
	ID string `json:"id"`
	// Path is the URL path.
	Path string `json:"path"`
	// PathType is Prefix, Exact or ImplementationSpecific.
	PathType string `json:"pathType,omitempty"`
	// ServiceName is the editor's copy of the linked service's name.
	ServiceName string `json:"serviceName,omitempty"`
	// ServicePort is the backend port; it defaults to the service's port.
	ServicePort int64 `json:"servicePort,omitempty"`
	// LinkedService is the editor's copy of the linked service node id.
	LinkedService string `json:"_linkedService,omitempty"`
}

// IngressData is the data of an ingress node.
type IngressData struct {
	Meta
	Host             string        `json:"host,omitempty"`
	Paths            []IngressPath `json:"paths"`
	IngressClassName string        `json:"ingressClassName,omitempty"`
	TLSEnabled       bool          `json:"tlsEnabled,omitempty"`
	TLSSecretName    string        `json:"tlsSecretName,omitempty"`
	TLSHosts         []string      `json:"tlsHosts,omitempty"`
}

// ConfigMapData is the data of a configmap node.
type ConfigMapData struct {
	Meta
	// Data holds the keys and values.
	Data map[string]string `json:"data"`
	// MountPath is where linked workloads mount it (default /etc/config).
	MountPath string `json:"mountPath,omitempty"`
}

// SecretKey is one key of a Secret: its name only, never its value.
type SecretKey struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// SecretData is the data of a secret node. Values never live in git.
type SecretData struct {
	Meta
	// SecretType is Opaque, kubernetes.io/tls or kubernetes.io/dockerconfigjson.
	SecretType string `json:"secretType,omitempty"`
	// Keys are the key names the Secret must hold.
	Keys []SecretKey `json:"keys"`
	// MountPath is where linked workloads mount it (default /etc/secrets).
	MountPath string `json:"mountPath,omitempty"`
	// SopsFile, when set, is the Secret's SOPS-encrypted manifest in the
	// repository, SopsFile(workflow, name): the compiler copies it into
	// the base as it is, and Flux decrypts it in the cluster.
	SopsFile string `json:"sopsFile,omitempty"`
}

// VolumeClaimTemplate is a per-pod volume of a StatefulSet.
type VolumeClaimTemplate struct {
	ID               string   `json:"id,omitempty"`
	Name             string   `json:"name"`
	StorageClassName string   `json:"storageClassName,omitempty"`
	AccessModes      []string `json:"accessModes"`
	Storage          string   `json:"storage"`
	// MountPath is where the volume is mounted. KubeOrch's editor has no
	// such field: its template mounts each claim at /data/<name>, and so
	// does Slipway when it is empty (see Path).
	MountPath string `json:"mountPath,omitempty"`
}

// Path returns where the claim is mounted: MountPath, or KubeOrch's
// /data/<name>.
func (t *VolumeClaimTemplate) Path() string {
	if t.MountPath != "" {
		return t.MountPath
	}
	return DefaultVolumeMountPath + "/" + t.Name
}

// StatefulSetData is the data of a statefulset node.
type StatefulSetData struct {
	Meta
	Container
	// ServiceName is the governing headless Service.
	ServiceName string `json:"serviceName"`
	// Replicas is the desired pod count.
	Replicas *int64 `json:"replicas,omitempty"`
	// VolumeClaimTemplates are per-pod volumes.
	VolumeClaimTemplates []VolumeClaimTemplate `json:"volumeClaimTemplates,omitempty"`
}

// JobSpec holds the fields Jobs and CronJobs share.
type JobSpec struct {
	Completions             *int64 `json:"completions,omitempty"`
	Parallelism             *int64 `json:"parallelism,omitempty"`
	BackoffLimit            *int64 `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds   *int64 `json:"activeDeadlineSeconds,omitempty"`
	TTLSecondsAfterFinished *int64 `json:"ttlSecondsAfterFinished,omitempty"`
	// RestartPolicy is Never or OnFailure (default Never).
	RestartPolicy string `json:"restartPolicy,omitempty"`
}

// JobData is the data of a job node.
type JobData struct {
	Meta
	Container
	JobSpec
}

// CronJobData is the data of a cronjob node.
type CronJobData struct {
	Meta
	Container
	JobSpec
	// Schedule is a cron expression.
	Schedule string `json:"schedule"`
	// TimeZone is an IANA time zone name for the schedule.
	TimeZone string `json:"timeZone,omitempty"`
	// ConcurrencyPolicy is Allow, Forbid or Replace.
	ConcurrencyPolicy          string `json:"concurrencyPolicy,omitempty"`
	Suspend                    *bool  `json:"suspend,omitempty"`
	SuccessfulJobsHistoryLimit *int64 `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int64 `json:"failedJobsHistoryLimit,omitempty"`
	StartingDeadlineSeconds    *int64 `json:"startingDeadlineSeconds,omitempty"`
}

// Toleration lets pods run on tainted nodes.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// DaemonSetData is the data of a daemonset node.
type DaemonSetData struct {
	Meta
	Container
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
	HostNetwork  bool              `json:"hostNetwork,omitempty"`
	HostPID      bool              `json:"hostPID,omitempty"`
	// UpdateStrategy is RollingUpdate or OnDelete.
	UpdateStrategy string `json:"updateStrategy,omitempty"`
	// MaxUnavailable is a count ("1") or a percentage ("10%") for RollingUpdate.
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
}

// HPAData is the data of an hpa node.
type HPAData struct {
	Meta
	// ScaleTargetKind is the editor's copy of the linked workload's kind.
	ScaleTargetKind string `json:"scaleTargetKind,omitempty"`
	// ScaleTargetName is the editor's copy of the linked workload's name.
	ScaleTargetName         string `json:"scaleTargetName,omitempty"`
	MinReplicas             *int64 `json:"minReplicas,omitempty"`
	MaxReplicas             int64  `json:"maxReplicas"`
	TargetCPUUtilization    *int64 `json:"targetCPUUtilization,omitempty"`
	TargetMemoryUtilization *int64 `json:"targetMemoryUtilization,omitempty"`
	// ScaleDownStabilization is the scale-down stabilization window, in
	// seconds (behavior.scaleDown.stabilizationWindowSeconds).
	ScaleDownStabilization *int64 `json:"scaleDownStabilization,omitempty"`
	// ScaleUpStabilization is the scale-up stabilization window, in seconds.
	ScaleUpStabilization *int64 `json:"scaleUpStabilization,omitempty"`
}

// ScaleTarget returns the kind of workload the hpa names by
// ScaleTargetKind: Deployment unless it says StatefulSet.
func (d *HPAData) ScaleTarget() string {
	if d.ScaleTargetKind != "" {
		return d.ScaleTargetKind
	}
	return "Deployment"
}

// NetworkPeer is one source or destination of a NetworkPolicy rule.
type NetworkPeer struct {
	// ID is the editor's id of the peer.
	ID string `json:"id,omitempty"`
	// PodSelector and NamespaceSelector are flat label maps or, as
	// Kubernetes writes them, matchLabels and matchExpressions.
	PodSelector       *LabelSelector `json:"podSelector,omitempty"`
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	IPBlock           *IPBlock       `json:"ipBlock,omitempty"`
	// LinkedWorkload is the editor's copy of the workload node an edge from
	// the rule's handle links; the peer is that workload's pods.
	LinkedWorkload string `json:"_linkedWorkload,omitempty"`
}

// LabelSelector selects objects by labels, as Kubernetes writes it. A
// flat map of labels, as KubeOrch writes selectors, reads as MatchLabels.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one expression of a LabelSelector.
type LabelSelectorRequirement struct {
	Key string `json:"key"`
	// Operator is In, NotIn, Exists or DoesNotExist.
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// IPBlock is a CIDR with exceptions.
type IPBlock struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except,omitempty"`
}

// NetworkPolicyPort is one port of a NetworkPolicy rule.
type NetworkPolicyPort struct {
	Protocol string `json:"protocol,omitempty"`
	// Port is a number or the name of a container port; empty means all.
	Port    PortRef `json:"port,omitzero"`
	EndPort int64   `json:"endPort,omitempty"`
}

// PortRef is a port given by number or by name. Editors may write the
// number as text ("8080"); it reads as a number.
type PortRef struct {
	Number int64
	Name   string
}

// MarshalJSON writes the number or the name.
func (p PortRef) MarshalJSON() ([]byte, error) {
	if p.Name != "" {
		return json.Marshal(p.Name)
	}
	return json.Marshal(p.Number)
}

// UnmarshalJSON reads a number or a name.
func (p *PortRef) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*p = PortRef{Name: name}
		return nil
	}
	*p = PortRef{}
	return json.Unmarshal(b, &p.Number)
}

// PeerField returns the peers of a rule and the field that holds them:
// peers, or from (ingress) or to (egress) as Kubernetes names them.
func (r NetworkPolicyRule) PeerField(egress bool) (string, []NetworkPeer) {
	switch {
	case r.Peers != nil:
		return "peers", r.Peers
	case egress:
		return "to", r.To
	}
	return "from", r.From
}

// IsZero reports whether no port is given.
func (p PortRef) IsZero() bool { return p.Number == 0 && p.Name == "" }

// NetworkPolicyRule is one ingress or egress rule.
type NetworkPolicyRule struct {
	// ID names the rule; an edge drawn from the handle of that id allows
	// traffic from (ingress) or to (egress) the pods of the workload it
	// links.
	ID string `json:"id,omitempty"`
	// Peers are the sources (ingress) or destinations (egress); none means all.
	Peers []NetworkPeer `json:"peers,omitempty"`
	// From and To are Peers as KubeOrch and Kubernetes name them, in
	// ingress and egress rules.
	From []NetworkPeer `json:"from,omitempty"`
	To   []NetworkPeer `json:"to,omitempty"`
	// Ports are the allowed ports; none means all.
	Ports []NetworkPolicyPort `json:"ports,omitempty"`
}

// NetworkPolicyData is the data of a networkpolicy node.
type NetworkPolicyData struct {
	Meta
	// PodSelector selects pods when no workload is linked.
	PodSelector map[string]string `json:"podSelector,omitempty"`
	// PolicyTypes are Ingress and/or Egress.
	PolicyTypes  []string            `json:"policyTypes,omitempty"`
	IngressRules []NetworkPolicyRule `json:"ingressRules,omitempty"`
	EgressRules  []NetworkPolicyRule `json:"egressRules,omitempty"`
}

// PersistentVolumeClaimData is the data of a persistentvolumeclaim node.
type PersistentVolumeClaimData struct {
	Meta
	StorageClassName string   `json:"storageClassName,omitempty"`
	AccessModes      []string `json:"accessModes"`
	Storage          string   `json:"storage"`
	// VolumeMode is Filesystem or Block.
	VolumeMode string `json:"volumeMode,omitempty"`
	// Prune lets Flux delete the claim, and with it the data, when the node
	// or its workflow goes (removed, archived, moved to another namespace).
	// Without it the claim is kept and must be deleted by hand.
	Prune bool `json:"prune,omitempty"`
}

// PluginField defines one user-defined field of a plugin node; its value is
// stored in the node data under the field's id.
type PluginField struct {
	// ID is the field's key in the node data and, split at dots, its path
	// under the object's spec.
	ID          string         `json:"id"`
	Label       string         `json:"label,omitempty"`
	Type        string         `json:"type"`
	Default     any            `json:"default,omitempty"`
	Placeholder string         `json:"placeholder,omitempty"`
	Required    bool           `json:"required,omitempty"`
	Options     []PluginOption `json:"options,omitempty"`
}

// OptionValues returns the values of a select field's options.
func (f PluginField) OptionValues() []string {
	out := make([]string, len(f.Options))
	for i, o := range f.Options {
		out[i] = o.Value
	}
	return out
}

// PluginOption is one choice of a select field: a value and its label. A
// string alone is the value.
type PluginOption struct {
	Value string `json:"value"`
	Label string `json:"label,omitempty"`
}

// PluginData is the data of a plugin node: an object of any API kind (a
// custom resource), with fields defined by the plugin.
type PluginData struct {
	Meta
	// PluginID names the plugin of the catalog (built in, or under
	// plugins/ in the repository) whose node type TemplateID is; the
	// catalog then gives APIVersion, Kind and Fields.
	PluginID       string        `json:"pluginId,omitempty"`
	APIVersion     string        `json:"apiVersion"`
	Kind           string        `json:"kind"`
	DisplayName    string        `json:"displayName,omitempty"`
	PluginCategory string        `json:"pluginCategory,omitempty"`
	Fields         []PluginField `json:"_pluginFields,omitempty"`

	// Values are the field values, by field id. They are decoded from the
	// data keys that Fields declare.
	Values map[string]any `json:"-"`
}
