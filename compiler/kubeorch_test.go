package compiler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestNetworkPolicyRuleEdgeAllows is the regression test of an edge drawn
// from a networkpolicy rule's handle: it allows traffic from the workload
// it links and never applies the policy to that workload, which an edge
// from the policy itself does.
func TestNetworkPolicyRuleEdgeAllows(t *testing.T) {
	t.Parallel()
	sel := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "storefront"}}
	}
	for _, tt := range []struct {
		name     string
		patches  []testutil.Patch
		selects  *metav1.LabelSelector
		allowsTo []*metav1.LabelSelector // the pod selectors of the ingress rule's peers
	}{
		{name: "header and rule edges", selects: sel("api"), allowsTo: []*metav1.LabelSelector{sel("web"), nil}},
		{
			name: "rule edges only",
			// Without the header edge, the policy selects what its
			// podSelector says, never the workload the rule edge links.
			patches:  []testutil.Patch{testutil.Set("/edges/8/sourceHandle", "rule-1733300000002-k9l0m1n2o"), testutil.Set("/nodes/9/data/podSelector", map[string]any{"tier": "backend"})},
			selects:  &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "backend"}},
			allowsTo: []*metav1.LabelSelector{sel("web"), nil, sel("api")},
		},
		{
			name: "rule edge without the editor's peer",
			// An edge from the rule's handle adds the workload's pods as a
			// peer even when the rule does not list it.
			patches:  []testutil.Patch{testutil.Set("/nodes/9/data/ingressRules/0/from", []any{})},
			selects:  sel("api"),
			allowsTo: []*metav1.LabelSelector{sel("web")},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := readFixtures(t, "../fixtures/kubeorch")
			if tt.patches != nil {
				doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/storefront.json"), tt.patches...)
				src["workflows/storefront.json"] = testutil.Marshal(t, doc)
			}
			res := buildSource(t, src)
			var np networkingv1.NetworkPolicy
			if err := yaml.Unmarshal(res.Tree["workflows/storefront/base/networkpolicy-api-ingress.yaml"], &np); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.selects, &np.Spec.PodSelector); diff != "" {
				t.Errorf("the policy selects (-want +got):\n%s", diff)
			}
			var got []*metav1.LabelSelector
			for _, p := range np.Spec.Ingress[0].From {
				got = append(got, p.PodSelector)
			}
			if diff := cmp.Diff(tt.allowsTo, got); diff != "" {
				t.Errorf("the ingress rule allows from (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRepositoryPlugins checks that plugins/<id>.json of the repository
// replaces the built-in plugin of its id, and that a bad definition is
// reported by file.
func TestRepositoryPlugins(t *testing.T) {
	t.Parallel()
	src := readFixtures(t, "../fixtures/kubeorch")
	src["plugins/postgresql.json"] = []byte(`{"id":"postgresql","group":"postgresql.cnpg.io","nodeTypes":[{"templateId":"pg-cluster","apiVersion":"postgresql.cnpg.io/v1","kind":"Cluster","fields":[{"id":"instances","type":"number"},{"id":"storage","type":"text"},{"id":"version","type":"text"},{"id":"monitoring.enablePodMonitor","type":"boolean","default":true}]}]}`)
	res := buildSource(t, src)
	if got := string(res.Tree["workflows/workers/base/cluster-orders-db.yaml"]); !strings.Contains(got, "enablePodMonitor: true") {
		t.Errorf("the repository's definition of pg-cluster is not used:\n%s", got)
	}
	src["plugins/broken.json"] = []byte(`{"id":"other","nodeTypes":[]}`)
	c := newCompiler(t)
	if _, err := c.Build(t.Context(), src); err == nil || !strings.Contains(err.Error(), `plugins/broken.json: /id: "other" must equal the file name "broken"`) {
		t.Errorf("got %v", err)
	}
}

// TestDraftNeverStopsTheBuild checks that a draft whose file does not
// decode, freshly added nodes and all, is reported with its problems as
// warnings while the published workflows are rendered; a published
// workflow with the same problems still fails the build.
func TestDraftNeverStopsTheBuild(t *testing.T) {
	t.Parallel()
	src := readFixtures(t, "../fixtures/kubeorch")
	res := buildSource(t, src)
	var got []string
	for _, w := range res.Workflows {
		if w.Name != "half-drawn" {
			continue
		}
		if w.Status != "draft" || w.Objects != 0 {
			t.Errorf("half-drawn: status %s, %d objects", w.Status, w.Objects)
		}
		for _, e := range w.Warnings {
			got = append(got, e.Error())
		}
	}
	want := []string{
		`workflows/half-drawn.json: /nodes/0/data: service "service-1" selects nothing: draw an edge to a workload or set selector (node "node-1")`,
		`workflows/half-drawn.json: /nodes/1/data/paths/0: path "/" routes nowhere: draw an edge from the ingress to a service (node "node-2")`,
		`workflows/half-drawn.json: /nodes/2/data: networkpolicy "networkpolicy-3" selects no workload and would apply to every pod of the namespace: draw an edge to the workloads it is for, or set podSelector to {} if every pod is meant (node "node-3")`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the draft's warnings (-want +got):\n%s", diff)
	}
	if res.Tree["workflows/storefront/base/deployment-api.yaml"] == nil {
		t.Error("the published workflows are not rendered beside the draft")
	}

	doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/half-drawn.json"), testutil.Set("/status", "published"))
	src["workflows/half-drawn.json"] = testutil.Marshal(t, doc)
	c := newCompiler(t)
	if _, err := c.Build(t.Context(), src); err == nil || !strings.Contains(err.Error(), want[0]) {
		t.Errorf("published with the same problems: got %v, want the build to fail with them", err)
	}
}
