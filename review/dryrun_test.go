package review

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// readObject reads an object of testdata/dryrun as the API server
// returned it.
func readObject(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dryrun", name))
	if err != nil {
		t.Fatal(err)
	}
	u, err := unstructuredOf(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return u.Object
}

// TestLiveChanges compares live objects with the API server's answers to
// their dry-runs: only the fields a change changes are listed, not the
// metadata the server sets on each write, nor the status, nor the fields
// Flux leaves to the cluster; a Secret's values never show.
func TestLiveChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		live, dry  string
		ignore     []kustomizev1.IgnoreRule
		want       []string
		hiddenText []string
	}{
		{
			name: "deployment scaled and upgraded",
			live: "deployment-live.yaml", dry: "deployment-dryrun.yaml",
			want: []string{
				"spec.replicas: 2 → 3",
				`spec.template.spec.containers[name=web].image: "nginx:1.27" → "nginx:1.28"`,
			},
		},
		{
			name: "replicas left to an HPA",
			live: "deployment-live.yaml", dry: "deployment-dryrun.yaml",
			ignore: []kustomizev1.IgnoreRule{
				{Paths: []string{"/spec/replicas"}, Target: &kustomize.Selector{Group: "apps", Version: "v1", Kind: "Deployment", Name: "web"}},
				{Paths: []string{"/spec/template"}, Target: &kustomize.Selector{Kind: "StatefulSet"}},
			},
			want: []string{`spec.template.spec.containers[name=web].image: "nginx:1.27" → "nginx:1.28"`},
		},
		{
			name: "unchanged",
			live: "deployment-live.yaml", dry: "deployment-live.yaml",
		},
		{
			name: "secret values masked",
			live: "secret-live.yaml", dry: "secret-dryrun.yaml",
			want: []string{"data.old removed", "data.password changed", "data.token added"},
			// the values, base64 and plain
			hiddenText: []string{"aHVudGVyMg", "hunter2", "Y29ycmVjdC1ob3JzZQ", "correct-horse", "c2VjcmV0LXRva2Vu", "b2xkLXZhbHVl"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			live, dry := readObject(t, tc.live), readObject(t, tc.dry)
			k := kustomization{ignore: tc.ignore}
			desired, err := unstructuredOf(string(testutil.Marshal(t, dry)))
			if err != nil {
				t.Fatal(err)
			}
			changes := liveChanges(live, dry, k.ignored(desired), desired.GetKind() == "Secret")
			var got []string
			for _, c := range changes {
				got = append(got, c.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			j, err := json.Marshal(changes)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.hiddenText {
				if strings.Contains(string(j), s) || strings.Contains(strings.Join(got, "\n"), s) {
					t.Errorf("a secret value shows: %s", j)
				}
			}
		})
	}
}

// TestDryRunWithoutCluster dry-runs a review of the fixture repository
// (a change on prod and one on staging, dry-run side by side) against
// clusters the service cannot use: one it has no context for, and one
// that refuses connections. Each gets a note; nothing fails.
func TestDryRunWithoutCluster(t *testing.T) {
	t.Parallel()
	base, head := fixtureSource(t), fixtureSource(t)
	patched(t, head, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", 4))
	patched(t, head, "workflows/batch.json", testutil.Set("/nodes/2/data/image", "busybox:1.37"))
	r, err := Compare(t.Context(), newCompiler(t), "base", "head", base, head)
	if err != nil {
		t.Fatal(err)
	}
	refused := &rest.Config{Host: "https://127.0.0.1:1"}
	for _, tc := range []struct {
		name     string
		clusters map[string]*rest.Config
		want     []string
	}{
		{"no context", nil, []string{
			"prod: not dry-run: the service has no kubeconfig context for this cluster",
			"staging: not dry-run: the service has no kubeconfig context for this cluster",
		}},
		{"refused connections", map[string]*rest.Config{"prod": refused, "staging": refused}, []string{
			"prod: cluster unreachable, 1 object not dry-run",
			"staging: cluster unreachable, 1 object not dry-run",
		}},
		{"one of each", map[string]*rest.Config{"staging": refused}, []string{
			"prod: not dry-run: the service has no kubeconfig context for this cluster",
			"staging: cluster unreachable, 1 object not dry-run",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.DryRun(t.Context(), DryRunOptions{Clusters: tc.clusters, FluxNamespace: "flux-system"}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range r.DryRuns {
				note, _, _ := strings.Cut(d.Note, ": Get ")
				got = append(got, d.Cluster+": "+note)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
	if err := r.DryRun(t.Context(), DryRunOptions{}); err == nil || !strings.Contains(err.Error(), "the Flux namespace is required") {
		t.Errorf("options without the Flux namespace: %v", err)
	}
}

// TestHideValues hides a Secret's values in the API server's answers
// about it, and withholds an answer that holds a value too short to hide.
func TestHideValues(t *testing.T) {
	t.Parallel()
	secret := appliedObject{id: ObjectID{APIVersion: "v1", Kind: "Secret", Name: "auth"}, values: map[string]any{
		"data":       map[string]any{"password": "aHVudGVyMjI="}, // hunter22
		"stringData": map[string]any{"pin": "1234", "token": "s3cr3t-token"},
	}}
	for _, tc := range []struct{ name, msg, want string }{
		{"plain", `Secret "auth" is invalid: data[password]: Invalid value: "hunter22"`, `Secret "auth" is invalid: data[password]: Invalid value: "[redacted]"`},
		{"base64", `Invalid value: "aHVudGVyMjI=" and "czNjcjN0LXRva2Vu"`, `Invalid value: "[redacted]" and "[redacted]"`},
		{"string data", `stringData[token]: "s3cr3t-token"`, `stringData[token]: "[redacted]"`},
		{"too short to hide", `pin: Invalid value: "1234"`, "the API server's answer is withheld: it may quote a value of the Secret"},
		{"no value", `secrets "auth" is forbidden`, `secrets "auth" is forbidden`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := hideValues(tc.msg, secret); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	configMap := secret
	configMap.id.Kind = "ConfigMap"
	if msg := `Invalid value: "hunter22"`; hideValues(msg, configMap) != msg {
		t.Errorf("a ConfigMap's answer changed")
	}
}

// TestAPIMessage quotes the API server's answer on one line, and keeps
// of a long one its start and its end, which says what is wrong.
func TestAPIMessage(t *testing.T) {
	t.Parallel()
	long := `Job.batch "migrate" is invalid: spec.template: Invalid value: ` + strings.Repeat(`{"Name":"x"}`, 500) + `: field is immutable`
	for _, tc := range []struct {
		name string
		err  error
		want func(string) bool
	}{
		{"one line", apierrors.NewBadRequest("a\n  b\tc"), func(s string) bool { return s == "a b c" }},
		{"long", apierrors.NewBadRequest(long), func(s string) bool {
			return len([]rune(s)) <= maxMessage+3 && strings.HasPrefix(s, `Job.batch "migrate" is invalid: spec.template`) &&
				strings.HasSuffix(s, ": field is immutable") && strings.Contains(s, " … ")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := apiMessage(tc.err); !tc.want(got) {
				t.Errorf("got %q", got)
			}
		})
	}
}

// TestDryRunOwners names the Kustomization that applies each object of a
// review, as the dry-run labels it: the workflow's, with its force and
// ignore rules, or the cluster's for the objects of a cluster directory.
func TestDryRunOwners(t *testing.T) {
	t.Parallel()
	base, head := fixtureSource(t), fixtureSource(t)
	patched(t, head, "workflows/shop.json", testutil.Set("/nodes/3/data/replicas", 4))
	r, err := Compare(t.Context(), newCompiler(t), "base", "head", base, head)
	if err != nil {
		t.Fatal(err)
	}
	owner := r.owners("prod", "slipway")
	for _, tc := range []struct {
		id      ObjectID
		want    string
		ignored []string
	}{
		// the workflow's Kustomization as rendered, in the compiler's namespace
		{ObjectID{Cluster: "prod", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "api"}, "flux-system/shop", []string{"/spec/replicas"}},
		{ObjectID{Cluster: "prod", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, "flux-system/shop", nil},
		{ObjectID{Cluster: "prod", APIVersion: "v1", Kind: "Namespace", Name: "shop"}, "slipway/slipway-prod", nil},
		{ObjectID{Cluster: "prod", APIVersion: kustomizationAPIVersion, Kind: "Kustomization", Namespace: "flux-system", Name: "shop"}, "slipway/slipway-prod", nil},
	} {
		t.Run(tc.id.String(), func(t *testing.T) {
			t.Parallel()
			o, ok := r.head[tc.id]
			if !ok {
				t.Fatalf("%s is not in the head", tc.id)
			}
			k := owner(o)
			desired, err := unstructuredOf(o.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.namespace + "/" + k.name; got != tc.want {
				t.Errorf("owner %s, want %s", got, tc.want)
			}
			if diff := cmp.Diff(tc.ignored, k.ignored(desired)); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
		})
	}
}
