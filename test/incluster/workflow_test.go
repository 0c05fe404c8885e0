package incluster

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/schemas"
	"github.com/slipway-gitops/slipway/source"
)

// selfRepo is Slipway's own deployment as a workflows repository.
const selfRepo = "../../config/workflow"

// renderSelf renders config/workflow with the compiler, as Flux would
// apply it: the workflow's Namespace, then the objects of its overlay.
func renderSelf(t *testing.T) []byte {
	t.Helper()
	files, err := source.ReadDir(os.DirFS(selfRepo))
	require.NoError(t, err)
	c, err := compiler.New(compiler.DefaultOptions())
	require.NoError(t, err)
	res, err := c.Build(t.Context(), files)
	require.NoError(t, err, "compiler build --source config/workflow")
	out := t.TempDir()
	require.NoError(t, res.Tree.WriteDir(out))
	ns, err := os.ReadFile(filepath.Join(out, "clusters", "default", "namespaces", "slipway-system.yaml"))
	require.NoError(t, err)
	return append(append(ns, "---\n"...), build(t, filepath.Join(out, "workflows", "slipway", "clusters", "default"))...)
}

// TestWorkflowMatchesSchemas: the files of config/workflow pass the JSON
// Schemas they name, which editors check them with.
func TestWorkflowMatchesSchemas(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file, id string
		schema   []byte
	}{
		{"workflows/slipway.json", schemas.WorkflowID, schemas.Workflow},
		{"clusters/default.json", schemas.ClusterID, schemas.Cluster},
	} {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(tt.schema))
			require.NoError(t, err)
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft2020)
			require.NoError(t, c.AddResource(tt.id, doc))
			s, err := c.Compile(tt.id)
			require.NoError(t, err)
			b, err := os.ReadFile(filepath.Join(selfRepo, tt.file))
			require.NoError(t, err)
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			require.NoError(t, err)
			require.NoError(t, s.Validate(v))
		})
	}
}

// manifest is the objects of a rendering, by kind and name.
type manifest map[string]*unstructured.Unstructured

func objectsOf(t *testing.T, b []byte) manifest {
	t.Helper()
	objs, err := kubetest.Objects(b)
	require.NoError(t, err)
	m := manifest{}
	for _, o := range objs {
		m[o.GetKind()+"/"+o.GetName()] = o
	}
	return m
}

// get decodes the object of kind and name into a typed value.
func (m manifest) get(t *testing.T, key string, into any) {
	t.Helper()
	o, ok := m[key]
	require.True(t, ok, "no %s", key)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into))
}

// configMapData returns the data of the ConfigMap name, which in
// config/base carries kustomize's hash suffix.
func (m manifest) configMapData(t *testing.T, name string) map[string]string {
	t.Helper()
	var cm corev1.ConfigMap
	m.get(t, "ConfigMap/"+name, &cm)
	return cm.Data
}

// onlyInBase are the objects of config/base that the workflow does not
// render, and why.
var onlyInBase = map[string]string{
	"ClusterRole/slipway-hooks": "a plugin node's fields go under spec, and a ClusterRole's rules are top-level; " +
		"nor should a workflow grant cluster-wide rights, which under tenancy the account Flux applies it as " +
		"cannot (docs/flux.md): the watches' rights are compiler bootstrap's slipway-status-reader ClusterRole, " +
		"which the operator binds to the workflow's ServiceAccount",
	"ClusterRoleBinding/slipway-hooks": "as the ClusterRole",
}

// deploymentDifferences are the fields of the service's Deployment in
// which the workflow's rendering differs from config/base by design. take
// returns the field's value and clears it, so that the rest of the
// Deployments can be compared whole; each difference must still be one.
var deploymentDifferences = []struct {
	what, why string
	take      func(d *appsv1.Deployment) any
}{
	{
		what: "labels and selector",
		why:  "the compiler labels and selects a workload's pods by app.kubernetes.io/name (the workload) and part-of (the workflow)",
		take: func(d *appsv1.Deployment) any {
			v := []any{d.Spec.Selector, d.Spec.Template.Labels}
			d.Spec.Selector, d.Spec.Template.Labels = nil, nil
			return v
		},
	},
	{
		what: "pod annotations",
		why:  "the compiler rolls the pods out when a ConfigMap they read changes by a hash annotation; kustomize by the generated ConfigMap's name",
		take: func(d *appsv1.Deployment) any {
			v := d.Spec.Template.Annotations
			d.Spec.Template.Annotations = nil
			return v
		},
	},
	{
		what: "rollout strategy",
		why:  "the workflow format has none; Kubernetes' default for three replicas is 0 unavailable and 1 surge, stricter than config/base's 1 and 1",
		take: func(d *appsv1.Deployment) any {
			v := d.Spec.Strategy
			d.Spec.Strategy = appsv1.DeploymentStrategy{}
			return v
		},
	},
	{
		what: "topology spread",
		why:  "the workflow format has none; config/base's is a preference (ScheduleAnyway), not a rule",
		take: func(d *appsv1.Deployment) any {
			v := d.Spec.Template.Spec.TopologySpreadConstraints
			d.Spec.Template.Spec.TopologySpreadConstraints = nil
			return v
		},
	},
	{
		what: "container and port names",
		why:  "the compiler names the container after its node and the main port not at all; probes and the Service give the number",
		take: func(d *appsv1.Deployment) any {
			c := &d.Spec.Template.Spec.Containers[0]
			v := []any{c.Name, c.Ports[0].Name}
			c.Name, c.Ports[0].Name = "", ""
			return v
		},
	},
	{
		what: "GOMEMLIMIT",
		why:  "the workflow format has no downward API: the limit is written out (512MiB) rather than read from limits.memory",
		take: func(d *appsv1.Deployment) any {
			c := &d.Spec.Template.Spec.Containers[0]
			v := c.Env
			c.Env = nil
			return v
		},
	},
}

// TestWorkflowRendersConfigBase renders Slipway's own workflow
// (config/workflow) with the compiler and holds it to config/base: the
// same objects but those in onlyInBase, and the same Deployment, Service,
// NetworkPolicy, disruption budget, account, configuration and Pod
// Security level but for deploymentDifferences.
func TestWorkflowRendersConfigBase(t *testing.T) {
	t.Parallel()
	base := objectsOf(t, build(t, "../../config/base"))
	self := objectsOf(t, renderSelf(t))

	var baseDep, selfDep appsv1.Deployment
	base.get(t, "Deployment/slipway-hooks", &baseDep)
	self.get(t, "Deployment/slipway-hooks", &selfDep)
	basePods, selfPods := labels.Set(baseDep.Spec.Template.Labels), labels.Set(selfDep.Spec.Template.Labels)

	t.Run("objects", func(t *testing.T) {
		t.Parallel()
		// ConfigMaps are compared through the Deployment, which names
		// them: config/base's carry kustomize's hash suffix.
		keys := func(m manifest) []string {
			var out []string
			for k, o := range m {
				if o.GetKind() != "ConfigMap" {
					out = append(out, k)
				}
			}
			slices.Sort(out)
			return out
		}
		want := slices.DeleteFunc(keys(base), func(k string) bool { _, ok := onlyInBase[k]; return ok })
		require.Equal(t, want, keys(self))
		for k := range onlyInBase {
			require.Contains(t, base, k, "onlyInBase names an object config/base no longer has")
		}
	})

	t.Run("namespace", func(t *testing.T) {
		t.Parallel()
		const level = "pod-security.kubernetes.io/enforce"
		require.Equal(t, base["Namespace/slipway-system"].GetLabels()[level], self["Namespace/slipway-system"].GetLabels()[level])
	})

	t.Run("deployment", func(t *testing.T) {
		t.Parallel()
		b, s := baseDep.DeepCopy(), selfDep.DeepCopy()
		// A probe of the port named http probes 8080.
		for _, d := range []*appsv1.Deployment{b, s} {
			c := &d.Spec.Template.Spec.Containers[0]
			for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				pr.HTTPGet.Port = intstr.FromInt32(resolvePort(t, c, pr.HTTPGet.Port))
			}
		}
		for _, d := range deploymentDifferences {
			require.NotEqual(t, d.take(b), d.take(s), "%s no longer differs: drop it from deploymentDifferences", d.what)
		}
		// The configuration, by content: envFrom's ConfigMap and the
		// mounted kubeconfig, whose names in config/base carry
		// kustomize's hash suffix.
		bEnv, bKubeconfig := configuration(t, base, &b.Spec.Template.Spec)
		sEnv, sKubeconfig := configuration(t, self, &s.Spec.Template.Spec)
		require.Equal(t, bEnv, sEnv, "the environment's ConfigMap")
		require.Equal(t, bKubeconfig, sKubeconfig, "the mounted kubeconfig")
		require.Equal(t, b.Spec, s.Spec)
	})

	t.Run("service", func(t *testing.T) {
		t.Parallel()
		var b, s corev1.Service
		base.get(t, "Service/slipway-hooks", &b)
		self.get(t, "Service/slipway-hooks", &s)
		require.True(t, labels.SelectorFromSet(b.Spec.Selector).Matches(basePods))
		require.True(t, labels.SelectorFromSet(s.Spec.Selector).Matches(selfPods))
		b.Spec.Selector, s.Spec.Selector = nil, nil
		b.Spec.Ports[0].TargetPort = intstr.FromInt32(resolvePort(t, &baseDep.Spec.Template.Spec.Containers[0], b.Spec.Ports[0].TargetPort))
		require.Equal(t, b.Spec, s.Spec)
	})

	t.Run("network policy", func(t *testing.T) {
		t.Parallel()
		var b, s networkingv1.NetworkPolicy
		base.get(t, "NetworkPolicy/slipway-hooks", &b)
		self.get(t, "NetworkPolicy/slipway-hooks", &s)
		requireSelects(t, &b.Spec.PodSelector, basePods)
		requireSelects(t, &s.Spec.PodSelector, selfPods)
		b.Spec.PodSelector, s.Spec.PodSelector = metav1.LabelSelector{}, metav1.LabelSelector{}
		require.Equal(t, b.Spec, s.Spec)
	})

	t.Run("disruption budget", func(t *testing.T) {
		t.Parallel()
		var b, s policyv1.PodDisruptionBudget
		base.get(t, "PodDisruptionBudget/slipway-hooks", &b)
		self.get(t, "PodDisruptionBudget/slipway-hooks", &s)
		requireSelects(t, b.Spec.Selector, basePods)
		requireSelects(t, s.Spec.Selector, selfPods)
		b.Spec.Selector, s.Spec.Selector = nil, nil
		require.Equal(t, b.Spec, s.Spec)
	})
}

// configuration returns the data of the ConfigMap the service's container
// loads as environment and of the one it mounts (its kubeconfig), names
// them, their volume and its mount alike on both sides, and puts the
// volumes and mounts in one order.
func configuration(t *testing.T, m manifest, p *corev1.PodSpec) (env, kubeconfig map[string]string) {
	t.Helper()
	c := &p.Containers[0]
	require.Len(t, c.EnvFrom, 2, "a ConfigMap and a Secret as environment")
	require.NotNil(t, c.EnvFrom[0].ConfigMapRef)
	require.NotNil(t, c.EnvFrom[1].SecretRef)
	env = m.configMapData(t, c.EnvFrom[0].ConfigMapRef.Name)
	c.EnvFrom[0].ConfigMapRef.Name = ""
	vol := slices.IndexFunc(p.Volumes, func(v corev1.Volume) bool { return v.ConfigMap != nil })
	require.GreaterOrEqual(t, vol, 0, "the kubeconfig's volume")
	mnt := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == p.Volumes[vol].Name })
	require.GreaterOrEqual(t, mnt, 0, "the kubeconfig's mount")
	kubeconfig = m.configMapData(t, p.Volumes[vol].ConfigMap.Name)
	p.Volumes[vol].Name, p.Volumes[vol].ConfigMap.Name, c.VolumeMounts[mnt].Name = "", "", ""
	slices.SortFunc(p.Volumes, func(a, b corev1.Volume) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.VolumeMounts, func(a, b corev1.VolumeMount) int { return strings.Compare(a.MountPath, b.MountPath) })
	return env, kubeconfig
}

// resolvePort returns the number of a port given by number or by the name
// of one of c's ports.
func resolvePort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.StrVal })
	require.GreaterOrEqual(t, i, 0, "no port named %q", p.StrVal)
	return c.Ports[i].ContainerPort
}

func requireSelects(t *testing.T, sel *metav1.LabelSelector, pods labels.Set) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	require.True(t, s.Matches(pods), "%v selects the service's pods %v", sel, pods)
}

// TestWorkflowRunsOnAServer applies what the compiler renders from
// config/workflow to a real API server: a server-side dry-run of every
// object passes; once applied, the three replicas run under the
// restricted Pod Security level; and with the status reader of compiler
// bootstrap bound to the workflow's account, as
// docs/running-in-a-cluster.md says, the account reads what the watches
// read and patches the deploy branch's GitRepository, and reads no Secret.
func TestWorkflowRunsOnAServer(t *testing.T) {
	t.Parallel()
	manifests := renderSelf(t)
	objs, err := kubetest.Objects(manifests)
	require.NoError(t, err)
	require.Equal(t, "Namespace", objs[0].GetKind())
	s, _ := kubetest.ForTest(t, binDir, false)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	// The Namespace is applied first, as Flux applies it: the other
	// objects' dry-run needs it.
	ns, err := objs[0].MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, s.Apply(ctx, ns))
	require.NoError(t, s.DryRun(ctx, manifests), "server-side dry-run of the rendered workflow")
	require.NoError(t, s.Apply(ctx, manifests))

	require.Eventually(t, func() bool {
		d, err := s.Client.AppsV1().Deployments("slipway-system").Get(ctx, "slipway-hooks", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 3
	}, 3*time.Minute, time.Second, "three service replicas; events: %s", events(ctx, s))
	_, err = s.Client.CoreV1().Pods("slipway-system").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "root"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	require.ErrorContains(t, err, `violates PodSecurity "restricted:latest"`)

	// The operator's step: compiler bootstrap's status reader (in
	// Slipway's Flux namespace, which bootstrap makes), bound to the
	// workflow's account.
	opts := compiler.DefaultOptions()
	_, err = s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.SourceRefNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	reader, err := compiler.StatusReader(opts)
	require.NoError(t, err)
	require.NoError(t, s.Apply(ctx, reader))
	_, err = s.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "slipway-hooks"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: compiler.StatusReaderName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "slipway-hooks", Namespace: "slipway-system"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, tt := range []struct {
		name    string
		attr    authorizationv1.ResourceAttributes
		allowed bool
	}{
		{"watch deployments", authorizationv1.ResourceAttributes{Verb: "watch", Group: "apps", Resource: "deployments"}, true},
		{"list kustomizations", authorizationv1.ResourceAttributes{Verb: "list", Group: "kustomize.toolkit.fluxcd.io", Resource: "kustomizations"}, true},
		{"patch the deploy branch's source", authorizationv1.ResourceAttributes{Verb: "patch", Group: "source.toolkit.fluxcd.io", Resource: "gitrepositories", Namespace: "slipway", Name: "slipway"}, true},
		{"patch another source", authorizationv1.ResourceAttributes{Verb: "patch", Group: "source.toolkit.fluxcd.io", Resource: "gitrepositories", Namespace: "slipway", Name: "other"}, false},
		{"read secrets", authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "slipway-system"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "system:serviceaccount:slipway-system:slipway-hooks", Groups: []string{"system:serviceaccounts"}, ResourceAttributes: &tt.attr,
			}}, metav1.CreateOptions{})
			require.NoError(t, err)
			require.Equal(t, tt.allowed, r.Status.Allowed, r.Status.Reason)
		})
	}
}
