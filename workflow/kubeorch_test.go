package workflow

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// kubeorchFile is a workflow as KubeOrch's canvas saves it.
func kubeorchFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../fixtures/kubeorch/workflows/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKubeOrchStateIgnored checks that the editor's and backend's state
// keys are accepted, listed as ignored, and never reach the model.
func TestKubeOrchStateIgnored(t *testing.T) {
	t.Parallel()
	wf, err := Decode("workflows/storefront.json", kubeorchFile(t, "storefront"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ig := range wf.Ignored {
		got = append(got, ig.Pointer)
	}
	for _, want := range []string{
		"/nodes/0/data/id", "/nodes/0/data/_status", "/nodes/0/data/hasValidationError",
		"/nodes/4/data/parameters", "/nodes/6/data/_secretCreated", "/nodes/8/data/_linkedTarget",
		"/nodes/9/data/_linkedWorkloads", "/nodes/9/data/ingressRules/0/from/0/type", "/nodes/9/data/egressRules/0/ports/0/id",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("ignored keys lack %s; got %v", want, got)
		}
	}
	if wf.TargetNamespace() != "default" {
		t.Errorf("namespace %q; the nodes say default", wf.TargetNamespace())
	}
	api := wf.NodeByID("node-5").Spec.(*DeploymentData)
	if api.Replicas != nil {
		t.Errorf("replicas: null read as %d, want absent", *api.Replicas)
	}
	if ref := api.EnvKeys[0].SecretKeyRef; ref == nil || ref.Name != "storefront-env" || ref.Key != "api.DATABASE_URL" {
		t.Errorf("a name-only env entry reads %+v, want the key api.DATABASE_URL of Secret storefront-env", ref)
	}
	web := wf.NodeByID("node-4").Spec.(*DeploymentData)
	if web.LivenessProbe.Exec != nil || len(web.LivenessProbe.Command) != 3 {
		t.Errorf("livenessProbe.exec.command not read as the probe's command: %+v", web.LivenessProbe)
	}
}

// TestKubeOrchDraftWarns checks that canvas defaults warn in a draft and
// fail once published.
func TestKubeOrchDraftWarns(t *testing.T) {
	t.Parallel()
	draft := kubeorchFile(t, "sketch")
	wf, err := Decode("workflows/sketch.json", draft)
	if err != nil {
		t.Fatalf("a draft with canvas defaults is refused: %v", err)
	}
	want := []string{"/nodes/0/data/image", "/nodes/1/data/keys/0/name", "/nodes/2/data"}
	if len(wf.Warnings) != len(want) {
		t.Fatalf("warnings %v, want at %v", wf.Warnings, want)
	}
	for i, w := range wf.Warnings {
		if w.Pointer != want[i] {
			t.Errorf("warning %d at %s, want %s", i, w.Pointer, want[i])
		}
	}
	doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/sketch.json"), testutil.Set("/status", "published"))
	_, err = Decode("workflows/sketch.json", testutil.Marshal(t, doc))
	if got := len(AsErrors(err)); got != len(want) {
		t.Errorf("published: %d errors, want %d: %v", got, len(want), err)
	}
}

// TestKubeOrchInvalid holds the strictness that protects users.
func TestKubeOrchInvalid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		patches []testutil.Patch
		want    string
	}{
		{"unknown key that is not KubeOrch's", []testutil.Patch{testutil.Set("/nodes/3/data/imagePullPolicyy", "Always")},
			`/nodes/3/data/imagePullPolicyy: unknown field "imagePullPolicyy"; did you mean "imagePullPolicy"?`},
		{"edge from a rule handle that does not exist", []testutil.Patch{testutil.Set("/edges/9/sourceHandle", "rule-gone")},
			`/edges/9: edge "reactflow__edge-node-10rule-1733300000002-k9l0m1n2o-node-4" names rule "rule-gone" of networkpolicy "api-ingress"`},
		{"linked peer whose edge applies the policy instead", []testutil.Patch{testutil.Set("/edges/9/sourceHandle", "output")},
			`/nodes/9/data/ingressRules/0/from/0/_linkedWorkload: names node "node-4", but no edge links it from the handle of rule`},
		{"port neither number nor name", []testutil.Patch{testutil.Set("/nodes/9/data/ingressRules/0/ports/0/port", "Not A Name")},
			`/nodes/9/data/ingressRules/0/ports/0/port: "Not A Name" is invalid`},
		{"bad selector operator", []testutil.Patch{testutil.Set("/nodes/9/data/ingressRules/0/from/1/namespaceSelector/matchExpressions/0/operator", "Equals")},
			`/nodes/9/data/ingressRules/0/from/1/namespaceSelector/matchExpressions/0/operator: "Equals" must be one of`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/storefront.json"), tt.patches...)
			_, err := Decode("workflows/storefront.json", testutil.Marshal(t, doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}
