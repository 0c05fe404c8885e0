package review

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestUnifiedMatchesDiff compares unified with diff -u on the same files.
func TestUnifiedMatchesDiff(t *testing.T) {
	t.Parallel()
	diffTool := testutil.Tool(t, "diff", "apt-get install diffutils")
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	base := lines(40, func(i int) string { return "line " + string(rune('a'+i%26)) + string(rune('0'+i/26)) })
	tests := map[string][2]string{
		"one change":         {base, strings.Replace(base, "line c0", "line C0", 1)},
		"changes far apart":  {base, strings.Replace(strings.Replace(base, "line b0", "x", 1), "line m1", "y", 1)},
		"changes close":      {base, strings.Replace(strings.Replace(base, "line b0", "x", 1), "line h0", "y", 1)},
		"insert at start":    {base, "new\n" + base},
		"delete at end":      {base, strings.TrimSuffix(base, "line n1\n")},
		"added file":         {"", base},
		"removed file":       {base, ""},
		"replace everything": {"a\nb\n", "c\nd\ne\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			os.WriteFile(a, []byte(tc[0]), 0o644)
			os.WriteFile(b, []byte(tc[1]), 0o644)
			out, _ := exec.Command(diffTool, "-u", a, b).Output()
			// Drop diff's header lines, which carry paths and times.
			want := strings.SplitN(string(out), "\n", 3)[2]
			got := strings.SplitN(unified("f", tc[0], tc[1]), "\n", 3)[2]
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("unified differs from diff -u (-want +got):\n%s", diff)
			}
		})
	}
}
