package compiler

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/slipway-gitops/slipway/watch"
)

// TestStatusReaderGolden compares what StatusReader prints with
// testdata/status-reader.yaml. Run with -update to rewrite it.
func TestStatusReaderGolden(t *testing.T) {
	t.Parallel()
	got, err := StatusReader(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status-reader.yaml")
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
}

// TestStatusReaderRules checks that the status reader may read every
// resource type the watches list, and Secrets not at all.
func TestStatusReaderRules(t *testing.T) {
	t.Parallel()
	rules := StatusReaderRules("slipway")
	may := func(group, resource, verb string) bool {
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) && len(r.ResourceNames) == 0
		})
	}
	for _, gvr := range append(slices.Clone(watch.Managed), watch.Kustomizations, watch.GitRepositories) {
		t.Run(gvr.String(), func(t *testing.T) {
			t.Parallel()
			for _, verb := range []string{"get", "list", "watch"} {
				if !may(gvr.Group, gvr.Resource, verb) {
					t.Errorf("may not %s %s", verb, gvr.GroupResource())
				}
			}
		})
	}
	t.Run("secrets", func(t *testing.T) {
		t.Parallel()
		for _, r := range rules {
			if slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*") {
				t.Errorf("a rule reaches Secrets: %+v", r)
			}
		}
	})
}
