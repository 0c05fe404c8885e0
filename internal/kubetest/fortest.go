package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ForTest starts a stack for one test or benchmark, with Flux when flux is true, and
// its git server on a temporary directory, which it returns. Without the binaries in binDir
// the test is skipped loudly, and fails in CI, which must run it. The
// stack stops when the test ends; its logs are kept when the test failed.
func ForTest(t testing.TB, binDir string, flux bool) (*Stack, string) {
	t.Helper()
	bin, _ := filepath.Abs(binDir)
	if missing := MissingBinaries(bin); len(missing) > 0 {
		msg := fmt.Sprintf("SKIPPED LOUDLY: the kube stack's binaries %v are missing from %s: run make kube-tools", missing, bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	gitRoot := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{BinDir: bin, GitRoot: gitRoot, Flux: flux})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("kube stack logs kept in %s", s.Dir)
			return
		}
		os.RemoveAll(s.Dir)
	})
	return s, gitRoot
}
