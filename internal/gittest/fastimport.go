package gittest

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// FastImport builds a repository from a stream of commits with git
// fast-import, much faster than one git commit per commit; each commit
// sets the given files.
func FastImport(b testing.TB, commits []map[string][]byte) string {
	b.Helper()
	testutil.Tool(b, "git", "apt-get install git")
	dir := b.TempDir()
	Git(b, dir, "init", "-q", "--bare", "-b", "main")
	ImportCommits(b, dir, false, commits)
	return dir
}

// ImportCommits adds commits to main with git fast-import, on top of the
// existing main when onTop is set.
func ImportCommits(b testing.TB, dir string, onTop bool, commits []map[string][]byte) {
	b.Helper()
	var s bytes.Buffer
	for i, files := range commits {
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata <<EOT\nCommit %d\nEOT\n", 1700000000+i, i)
		if i == 0 && onTop {
			fmt.Fprintf(&s, "from refs/heads/main^0\n")
		}
		paths := make([]string, 0, len(files))
		for p := range files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", p, len(files[p]), files[p])
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = dir, Env(), &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fast-import: %v\n%s", err, out)
	}
}
