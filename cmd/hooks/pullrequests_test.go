package main

import (
	"testing"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/githubtest"
)

// TestNewPullRequests checks the wiring of HOOKS_CANVAS_SAVE=pull-request:
// the pull requests are opened through HOOKS_GITHUB_API_URL on the
// repository HOOKS_SOURCE_REPO names.
func TestNewPullRequests(t *testing.T) {
	t.Parallel()
	gh := githubtest.New(t, "../..")
	cfg := &hooks.Config{SourceRepo: "https://github.com/example/workflows.git", GitHubToken: "a GitHub token", GitHubAPIURL: gh.URL,
		Canvas: hooks.CanvasConfig{Save: hooks.SavePullRequest}}
	pulls, err := newPullRequests(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pr, opened, err := pulls.OpenPullRequest(t.Context(), canvas.NewPullRequest{Head: canvas.SaveBranch("shop"), Base: "main", Title: "Save shop from the canvas"})
	if err != nil {
		t.Fatal(err)
	}
	if want := gh.URL + "/example/workflows/pull/1"; !opened || pr.URL != want {
		t.Errorf("opened %v: %+v, want %s", opened, pr, want)
	}
	if got := gh.PullRequests(); len(got) != 1 || got[0].Head != "slipway/canvas/shop" || got[0].Base != "main" {
		t.Errorf("pull requests %+v", got)
	}
}
