package workflow

import (
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestBuildSpec checks where a node's image is built from: a repository
// without a password, on a branch name.
func TestBuildSpec(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		build map[string]any
		want  string
	}{
		{"repository and branch", map[string]any{"repoUrl": "https://github.com/example/shop.git", "branch": "release/1", "context": "."}, ""},
		{"password in the repository URL", map[string]any{"repoUrl": "https://bot:hunter2secret@github.com/example/shop.git", "context": "."},
			"/nodes/3/data/build/repoUrl: carries a password"},
		{"branch that is a range", map[string]any{"repoUrl": "https://github.com/example/shop.git", "branch": "main..dev", "context": "."},
			`/nodes/3/data/build/branch: "main..dev" is not a branch name`},
		{"no context", map[string]any{"repoUrl": "https://github.com/example/shop.git"}, "/nodes/3/data/build/context: is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/storefront.json"), testutil.Set("/nodes/3/data/build", tt.build))
			wf, err := Decode("workflows/storefront.json", testutil.Marshal(t, doc))
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "":
				if b := wf.Nodes[3].Spec.(Workload).ContainerSpec().Build; b == nil || b.RepoURL != tt.build["repoUrl"] || b.Branch != tt.build["branch"] {
					t.Errorf("build = %+v", b)
				}
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Errorf("got %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

// TestImagePolicy checks that a node follows its image's tags by one
// version range or one regular expression.
func TestImagePolicy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		policy map[string]any
		want   string
	}{
		{"semver", map[string]any{"semver": ">=1.2 <2"}, ""},
		{"pattern", map[string]any{"pattern": `^main-[0-9a-f]{7}$`}, ""},
		{"both", map[string]any{"semver": "^1", "pattern": ".*"}, "/nodes/3/data/imagePolicy: needs exactly one of semver and pattern"},
		{"neither", map[string]any{}, "/nodes/3/data/imagePolicy: needs exactly one of semver and pattern"},
		{"not a range", map[string]any{"semver": "one-ish"}, `/nodes/3/data/imagePolicy/semver: "one-ish" is not a version range`},
		{"not a regexp", map[string]any{"pattern": "v(1"}, `/nodes/3/data/imagePolicy/pattern: "v(1" is not a regular expression`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/kubeorch/workflows/storefront.json"), testutil.Set("/nodes/3/data/imagePolicy", tt.policy))
			_, err := Decode("workflows/storefront.json", testutil.Marshal(t, doc))
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v\nwant %q", err, tt.want)
			}
		})
	}
}
