package compiler

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBootstrapGolden compares what Bootstrap prints, with and without
// tenancy, with everything a cluster may ask for (a Receiver, an Alert,
// the service's rights, a move), and with a source per workflow, with
// testdata/bootstrap-*.yaml. Run with -update to rewrite
// them.
func TestBootstrapGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		b    BootstrapOptions
	}{
		{"bootstrap.yaml", BootstrapOptions{Cluster: "prod", URL: "https://git.example.com/workflows.git", Branch: "deploy", SecretRef: "git-auth", Interval: time.Minute}},
		{"bootstrap-tenancy.yaml", BootstrapOptions{Cluster: "prod", URL: "https://git.example.com/workflows.git", Branch: "deploy", Interval: 10 * time.Minute, Tenancy: true}},
		{"bootstrap-complete.yaml", BootstrapOptions{Cluster: "prod", URL: "https://git.example.com/workflows.git", Branch: "deploy", Interval: time.Minute,
			ReceiverSecret: "slipway-receiver", AlertURL: "https://events.example.com/flux", AlertSecret: "slipway-alert",
			ServiceUser: "system:serviceaccount:slipway:hooks", MoveFrom: "flux-system"}},
		{"bootstrap-workflow-sources.yaml", BootstrapOptions{Cluster: "prod", URL: "https://git.example.com/workflows.git", Branch: "deploy", SecretRef: "git-auth", Interval: time.Minute,
			WorkflowSources: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Bootstrap(tc.b, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", golden, diff)
			}
		})
	}
}
