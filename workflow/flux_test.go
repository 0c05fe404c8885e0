package workflow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWorkflowCannotChooseAccount checks that the account Flux applies a
// workflow as comes from its cluster file only: a workflow file that names
// one is refused where it does, and the rest of its flux still counts.
func TestWorkflowCannotChooseAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"default cluster", `{"name": "web", "status": "published", "flux": {"serviceAccountName": "kustomize-controller"}, "nodes": [], "edges": []}`, []string{
			`workflows/web.json: /flux/serviceAccountName: belongs in the cluster file: a workflow cannot choose the account Flux applies it as (there, flux.serviceAccountName names one account for every workflow; flux.tenancy gives each workflow its own)`,
		}},
		{"named cluster", `{"name": "web", "status": "draft", "cluster_id": "prod", "flux": {"serviceAccountName": "x", "timeout": "15m"}, "nodes": [], "edges": []}`, []string{
			`workflows/web.json: /flux/serviceAccountName: belongs in clusters/prod.json: a workflow cannot choose the account Flux applies it as (there, flux.serviceAccountName names one account for every workflow; flux.tenancy gives each workflow its own)`,
		}},
		{"tenancy is the cluster's too", `{"name": "web", "status": "draft", "flux": {"tenancy": true}, "nodes": [], "edges": []}`, []string{
			`workflows/web.json: /flux/tenancy: unknown field "tenancy"`,
		}},
		{"other settings", `{"name": "web", "status": "published", "flux": {"timeout": "15m"}, "nodes": [], "edges": []}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode("workflows/web.json", []byte(tt.file))
			var got []string
			for _, e := range AsErrors(err) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKubeOrchWorkflowsNameNoAccount checks that no workflow KubeOrch
// saves is refused for its Flux settings: KubeOrch has none, so none of
// them names an account. (A half-drawn draft has other problems, which
// the repository reports as warnings.)
func TestKubeOrchWorkflowsNameNoAccount(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../fixtures/kubeorch/workflows/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no KubeOrch workflows: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(WorkflowFile(stem(f)), b); err != nil && strings.Contains(err.Error(), "/flux/") {
				t.Error(err)
			}
		})
	}
}
