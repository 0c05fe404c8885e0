// Package incluster tests the manifests that run Slipway in a cluster
// against a real API server: admitted as they are, under the restricted
// Pod Security level their namespace asks for.
package incluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/slipway-gitops/slipway/internal/kubetest"
)

// binDir is where make kube-tools puts the stack's binaries.
const binDir = "../../.tools/kube/bin"

// build renders a kustomization of deploy/.
func build(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	out, err := res.AsYaml()
	require.NoError(t, err)
	return out
}

// TestManifestsRunOnAServer applies config/default (the service and its
// etcd) to a real API server: a server-side dry-run of every object
// passes, and once applied the three service replicas and the three etcd
// members run, their pods admitted under the restricted Pod Security
// level.
func TestManifestsRunOnAServer(t *testing.T) {
	t.Parallel()
	manifests := build(t, "../../config/default")
	s, _ := kubetest.ForTest(t, binDir, false)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	// What a cluster has before the service: Flux's namespace of
	// Slipway's objects (compiler bootstrap makes it), and the service's
	// namespace with the Secret an operator creates by hand.
	for _, ns := range []string{"slipway", "slipway-system"} {
		_, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, s.DryRun(ctx, manifests), "server-side dry-run of config/default")

	_, err := s.Client.CoreV1().Secrets("slipway-system").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "slipway-hooks"},
		StringData: map[string]string{"HOOKS_GITHUB_WEBHOOK_SECRET": "test", "HOOKS_API_TOKENS": "test"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, s.PersistentVolumes(ctx, "", 3), "volumes for the etcd members' claims")
	require.NoError(t, s.Apply(ctx, manifests))

	require.Eventually(t, func() bool {
		d, err := s.Client.AppsV1().Deployments("slipway-system").Get(ctx, "slipway-hooks", metav1.GetOptions{})
		if err != nil {
			return false
		}
		st, err := s.Client.AppsV1().StatefulSets("slipway-system").Get(ctx, "slipway-etcd", metav1.GetOptions{})
		if err != nil {
			return false
		}
		return d.Status.AvailableReplicas == 3 && st.Status.ReadyReplicas == 3
	}, 3*time.Minute, time.Second, "three service replicas and three etcd members; events: %s", events(ctx, s))

	// The level is enforced, so the replicas above were admitted under it.
	_, err = s.Client.CoreV1().Pods("slipway-system").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "root"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	require.ErrorContains(t, err, `violates PodSecurity "restricted:latest"`)

	pdbs, err := s.Client.PolicyV1().PodDisruptionBudgets("slipway-system").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pdbs.Items, 2, "one disruption budget for the service, one for etcd")
}

// events lists the warning events of the service's namespace, for a
// failure's message.
func events(ctx context.Context, s *kubetest.Stack) fmt.Stringer {
	return stringer(func() string {
		list, err := s.Client.CoreV1().Events("slipway-system").List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
		if err != nil {
			return err.Error()
		}
		var out string
		for _, e := range list.Items {
			out += fmt.Sprintf("\n  %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
		return out
	})
}

type stringer func() string

func (f stringer) String() string { return f() }
