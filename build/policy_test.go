package build

import (
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/registrytest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/workflow"
)

// TestImagePolicyFollowsTheNewestTag checks, on a real registry, that a
// new tag the policy admits becomes one write-back commit and a deploy,
// and that a tag it does not admit, or a second scan, does nothing.
func TestImagePolicyFollowsTheNewestTag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	repo := f.registry + "/team/web"
	registrytest.Push(t, repo+":1.0.0")
	gittest.Commit(t, f.dir, "Follow web's 1.x", map[string][]byte{
		"workflows/shop.json": gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json",
			testutil.Set("/nodes/3/data/image", repo+":1.0.0"), testutil.Set("/nodes/3/data/imagePolicy", map[string]any{"semver": "^1.0"})),
	})
	scan := func(want int) []string {
		t.Helper()
		commits, err := f.svc.ScanImages(t.Context())
		if err != nil || len(commits) != want {
			t.Fatalf("scan: %d commits, %v; want %d", len(commits), err, want)
		}
		return commits
	}
	image := func() string {
		t.Helper()
		wf, err := workflow.Decode("workflows/shop.json", []byte(readFile(t, f.dir, "workflows/shop.json")))
		if err != nil {
			t.Fatal(err)
		}
		return wf.NodeByID("web").Spec.(workflow.Workload).ContainerSpec().Image
	}
	first := scan(1)
	// The image gains its digest: the tag it had, pinned.
	if got := image(); !strings.HasPrefix(got, repo+":1.0.0@sha256:") {
		t.Errorf("image %s after the first scan", got)
	}
	registrytest.Push(t, repo+":1.2.0")
	registrytest.Push(t, repo+":2.0.0")
	registrytest.Push(t, repo+":latest")
	d120 := registrytest.Push(t, repo+":1.2.0")
	commits := scan(1)
	if got, want := image(), repo+":1.2.0@"+d120; got != want {
		t.Errorf("image %s, want %s", got, want)
	}
	msg := gittest.Git(t, f.dir, "log", "-1", "--format=%B", commits[0])
	if !strings.HasPrefix(msg, "Update web of shop: image "+repo+":1.2.0") || !strings.Contains(msg, "Image-Policy: semver ^1.0") {
		t.Errorf("write-back message:\n%s", msg)
	}
	if gittest.Git(t, f.dir, "rev-parse", "main") != commits[0] || first[0] == commits[0] {
		t.Errorf("main is not the policy's write-back")
	}
	// Nothing new, and a tag out of range: no commit.
	scan(0)
	registrytest.Push(t, repo+":3.1.0")
	scan(0)
	if n := f.deploys.Load(); n != 2 {
		t.Errorf("%d deploys, want one per write-back, 2", n)
	}
}

func TestNewestTag(t *testing.T) {
	t.Parallel()
	tags := []string{"1.0.0", "1.10.0", "1.9.3", "2.0.0", "v1.11.0-rc.1", "latest", "main-0a1b2c3", "main-ffeeddc", "main-0a1b2c3-dirty"}
	for _, tt := range []struct {
		name   string
		policy workflow.ImagePolicy
		want   string
	}{
		{"highest version in range", workflow.ImagePolicy{Semver: "^1"}, "1.10.0"},
		{"pre-releases only when asked", workflow.ImagePolicy{Semver: ">=1.11.0-0 <2"}, "v1.11.0-rc.1"},
		{"nothing in range", workflow.ImagePolicy{Semver: ">=5"}, ""},
		{"pattern matches whole tags", workflow.ImagePolicy{Pattern: `main-[0-9a-f]{7}`}, "main-ffeeddc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, _, err := newestTag(&tt.policy, tags); err != nil || got != tt.want {
				t.Errorf("newestTag = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
