package kubetest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubeOrchNetworkPolicyDryRun has the apiserver validate (dryRun=All)
// the NetworkPolicy rendered from KubeOrch's editor shape: rule ids, peers
// in from/to, a peer linked by an edge from the rule's handle, a
// matchExpressions namespace selector and ports by number, by number as
// text and by name. The other objects of the KubeOrch fixtures are checked
// too, except the plugins' custom resources, whose definitions the stack
// does not install.
func TestKubeOrchNetworkPolicyDryRun(t *testing.T) {
	s := needStack(t)
	res := buildRepo(t, "../../fixtures/kubeorch")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := s.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	checked := 0
	for _, w := range []string{"storefront", "workers"} {
		y, err := res.Tree.Kustomize("workflows/" + w + "/clusters/default")
		if err != nil {
			t.Fatal(err)
		}
		objs, err := Objects(y)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			switch o.GetAPIVersion() {
			case "postgresql.cnpg.io/v1", "kafka.strimzi.io/v1":
				continue // no CRD in the stack
			}
			b, err := o.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DryRun(t.Context(), b); err != nil {
				t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
			checked++
		}
	}
	t.Logf("%d objects of the KubeOrch fixtures validated by the apiserver", checked)
}
