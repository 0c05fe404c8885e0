package hooks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// BenchmarkResolveVersions resolves every workflow of a deploy commit
// that nothing resolved before, as the status leader does when a deploy
// lands: 200 workflows over 1,000 source commits, each changing one of
// them.
func BenchmarkResolveVersions(b *testing.B) {
	const workflows = 200
	commits := []map[string][]byte{sample.Repo(workflows)}
	for i := range 999 {
		w := i % workflows
		commits = append(commits, map[string][]byte{fmt.Sprintf("workflows/w%03d.json", w): sample.Workflow(w, i+2)})
	}
	dir := gittest.FastImport(b, commits)
	head := strings.TrimSpace(gittest.Git(b, dir, "rev-parse", "main"))
	deploy := strings.TrimSpace(gittest.Git(b, dir, "commit-tree", "main^{tree}", "-m", "Deploy\n\n"+gitrepo.SourceCommitTrailer+": "+head))
	repo, err := gitrepo.Open(b.Context(), dir, gitrepo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		g := newGitResolver(repo, repo)
		for w := range workflows {
			wf := fmt.Sprintf("w%03d", w)
			// The first commit and every commit i < 999 with i%200 == w.
			r, err := g.Resolve(b.Context(), deploy, wf)
			if err != nil || r.Version != 2+(998-w)/workflows {
				b.Fatalf("%s: %+v, %v", wf, r, err)
			}
		}
	}
}
