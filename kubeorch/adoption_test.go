package kubeorch

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestImportReportsAdoption imports canvases and checks the report's
// changes on adoption: one line per object whose behaviour changes when
// Flux takes over what KubeOrch's templates made, and none for the rest.
func TestImportReportsAdoption(t *testing.T) {
	t.Parallel()
	const (
		roll    = "its pods are replaced once: their template gains Slipway's labels"
		node    = `"position": {"x": 0, "y": 0}, "data": {"namespace": "default", `
		deploy  = `{"id": "d", "type": "deployment", ` + node + `"name": "api", "image": "nginx:1.27", "port": 8080`
		secret  = `{"id": "s", "type": "secret", ` + node + `"name": "api-keys", "keys": [{"name": "stripe"}, {"name": "mail"}]}}`
		pull    = `{"id": "p", "type": "secret", ` + node + `"name": "registry", "secretType": "kubernetes.io/dockerconfigjson", "keys": [{"name": ".dockerconfigjson"}]}}`
		noEdges = `]`
	)
	for _, tc := range []struct {
		name  string
		nodes string
		edges string
		want  []Change
	}{
		{"a deployment's pods roll once", deploy + `}}`, noEdges, []Change{{"w", "Deployment/api", roll}}},
		{"env values move to the workflow's Secret", deploy + `, "envKeys": [{"name": "DATABASE_URL"}, {"name": "LOG_LEVEL", "value": "debug"}]}}`, noEdges,
			[]Change{{"w", "Deployment/api", roll + "; the values KubeOrch set for DATABASE_URL come from the Secret w-env (api.DATABASE_URL), which must hold them before Flux applies; run `compiler handover` first (docs/kubeorch.md)"}}},
		{"a mounted secret is narrowed to its keys", deploy + `}}, ` + secret, `{"id": "e", "source": "s", "target": "d"}]`,
			[]Change{{"w", "Deployment/api", roll + "; the volume of Secret api-keys holds its declared keys stripe, mail only: KubeOrch mounted every key"}}},
		{"a pull secret is not refreshed", deploy + `}}, ` + pull, `{"id": "e", "source": "p", "target": "d"}]`,
			[]Change{{"w", "Deployment/api", roll}, {"w", "Secret/registry", "the registry credentials stay as KubeOrch last wrote them: Slipway renders no secret values, so nothing refreshes them as KubeOrch's runs did"}}},
		{"a deployment's resources were applied by KubeOrch", deploy + `, "resources": {"requests": {"cpu": "100m"}}}}`, noEdges, []Change{{"w", "Deployment/api", roll}}},
		{"a daemonset's resources apply for the first time", `{"id": "a", "type": "daemonset", ` + node + `"name": "agent", "image": "busybox:1.37", "resources": {"limits": {"memory": "64Mi"}}}}`, noEdges,
			[]Change{{"w", "DaemonSet/agent", roll + "; its requests and limits apply for the first time: KubeOrch's template left them out"}}},
		{"a cronjob's next jobs", `{"id": "c", "type": "cronjob", ` + node + `"name": "report", "image": "busybox:1.37", "schedule": "0 * * * *"}}`, noEdges,
			[]Change{{"w", "CronJob/report", "the Jobs it starts from now on run Slipway's pod template"}}},
		{"a job does not run again", `{"id": "j", "type": "job", ` + node + `"name": "migrate", "image": "busybox:1.37", "resources": {"requests": {"cpu": "50m"}}}}`, noEdges,
			[]Change{{"w", "Job/migrate", "left as KubeOrch ran it: Flux creates the Job only when it is missing, so it does not run again (delete it to run the workflow's version)"}}},
		{"a network policy's rules are enforced", `{"id": "n", "type": "networkpolicy", ` + node + `"name": "api", "podSelector": {"app": "api"}, "policyTypes": ["Ingress"], "ingressRules": [{"id": "r", "from": [{"type": "podSelector", "podSelector": {"app": "web"}}]}]}}`, noEdges,
			[]Change{{"w", "NetworkPolicy/api", "its drawn rules are enforced for the first time: KubeOrch's policy has one empty rule, which allows all traffic"}}},
		{"a network policy without rules changes nothing", `{"id": "n", "type": "networkpolicy", ` + node + `"name": "api", "podSelector": {"app": "api"}, "policyTypes": ["Ingress"]}}`, noEdges, nil},
		{"a service changes nothing", `{"id": "v", "type": "service", ` + node + `"name": "api", "port": 80}}`, noEdges, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse("w.json", []byte(`{"id": "w1", "name": "w", "status": "published", "nodes": [`+tc.nodes+`], "edges": [`+tc.edges+`}`))
			if err != nil {
				t.Fatal(err)
			}
			docs := &Documents{}
			docs.Add(d)
			res, err := Import(docs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Report.Adoption); diff != "" {
				t.Errorf("changes on adoption (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReportWriteTextAdoption checks that the text report ends with the
// changes on adoption, one line per object, after the fields.
func TestReportWriteTextAdoption(t *testing.T) {
	t.Parallel()
	r := &Report{
		Entries:  []Entry{{Workflow: "w", File: "w.json", Pointer: "/status", Status: Mapped, Detail: "status"}},
		Adoption: []Change{{"w", "Deployment/api", "its pods are replaced once"}, {"w", "Job/migrate", "left as KubeOrch ran it"}},
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `workflow w:
  mapped  w.json#/status  status
changes on adoption (a cluster with "adopt": "kubeorch"):
  w  Deployment/api  its pods are replaced once
  w  Job/migrate     left as KubeOrch ran it
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
