package hooks

import (
	"maps"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// TestCanvasSaveConfig checks HOOKS_CANVAS_SAVE and the repository the
// pull requests of its pull-request mode are opened on.
func TestCanvasSaveConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"HOOKS_SOURCE_REPO":           "https://github.com/example/workflows.git",
		"HOOKS_GITHUB_WEBHOOK_SECRET": "a webhook secret of some length",
	}
	load := func(t *testing.T, env map[string]string) (*Config, error) {
		t.Helper()
		all := maps.Clone(base)
		maps.Copy(all, env)
		return LoadConfig(t.Context(), envconfig.MapLookuper(all))
	}
	c, err := load(t, nil)
	if err != nil || c.Canvas.Save != SaveCommit {
		t.Fatalf("default save %q (%v), want %q", c.Canvas.Save, err, SaveCommit)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		repo string
		err  string
	}{
		{"https", map[string]string{"HOOKS_GITHUB_TOKEN": "t"}, "example/workflows", ""},
		{"https with credentials", map[string]string{"HOOKS_SOURCE_REPO": "https://x-access-token:t@github.com/example/workflows", "HOOKS_GITHUB_TOKEN": "t"}, "example/workflows", ""},
		{"ssh", map[string]string{"HOOKS_SOURCE_REPO": "ssh://git@github.com/example/workflows.git", "HOOKS_GITHUB_TOKEN": "t"}, "example/workflows", ""},
		{"scp-like", map[string]string{"HOOKS_SOURCE_REPO": "git@github.com:example/work.flows.git", "HOOKS_GITHUB_TOKEN": "t"}, "example/work.flows", ""},
		{"named", map[string]string{"HOOKS_SOURCE_REPO": "https://git.example.com/w.git", "HOOKS_CANVAS_SAVE_REPO": "team/w", "HOOKS_GITHUB_TOKEN": "t"}, "team/w", ""},
		{"not on github.com", map[string]string{"HOOKS_SOURCE_REPO": "https://git.example.com/w.git", "HOOKS_GITHUB_TOKEN": "t"}, "",
			"HOOKS_CANVAS_SAVE_REPO: HOOKS_SOURCE_REPO is not on github.com"},
		{"bad repository", map[string]string{"HOOKS_CANVAS_SAVE_REPO": "team", "HOOKS_GITHUB_TOKEN": "t"}, "", `HOOKS_CANVAS_SAVE_REPO: "team" is not a GitHub repository`},
		{"no token", nil, "", "HOOKS_GITHUB_TOKEN: is required with HOOKS_CANVAS_SAVE=pull-request"},
		{"unknown mode", map[string]string{"HOOKS_CANVAS_SAVE": "push"}, "", `HOOKS_CANVAS_SAVE: "push" is not commit or pull-request`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"HOOKS_CANVAS_SAVE": SavePullRequest}
			maps.Copy(env, tc.env)
			c, err := load(t, env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if repo, err := c.Canvas.PullRequestRepo(c.SourceRepo); repo != tc.repo || err != nil {
				t.Errorf("repository %q (%v), want %q", repo, err, tc.repo)
			}
		})
	}
}

// FuzzPullRequestRepo reads HOOKS_SOURCE_REPO values for the GitHub
// repository they name: a name is found only in a github.com URL, and
// is always one owner and one repository, never more of the path.
func FuzzPullRequestRepo(f *testing.F) {
	for _, s := range []string{
		"https://github.com/example/workflows.git", "git@github.com:example/w.git", "ssh://git@github.com/a/b",
		"https://user:tok@github.com/a/b/", "https://github.com/a/b/c", "https://github.com.evil.example/a/b", "/srv/git/w.git",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, source string) {
		repo, err := CanvasConfig{}.PullRequestRepo(source)
		if err != nil {
			return
		}
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			t.Errorf("%q names %q, not owner/name", source, repo)
		}
		if !strings.Contains(source, "github.com/"+repo) && !strings.Contains(source, "github.com:"+repo) {
			t.Errorf("%q names %q, which it does not hold after github.com", source, repo)
		}
	})
}
