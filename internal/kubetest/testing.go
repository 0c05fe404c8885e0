package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// StartForTest starts a stack with Flux for one test from the binaries in
// binDir, serving git from a temporary directory it returns, and stops it
// when the test ends (keeping its logs when the test failed). Without the
// binaries the test is skipped loudly, or fails when CI=true, since CI
// must run it.
func StartForTest(t testing.TB, binDir string) (*Stack, string) {
	t.Helper()
	bin, err := filepath.Abs(binDir)
	if err != nil {
		t.Fatal(err)
	}
	if missing := MissingBinaries(bin); len(missing) > 0 {
		msg := fmt.Sprintf("SKIPPED LOUDLY: the kube stack's binaries %v are missing from %s: run make kube-tools", missing, bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	gitRoot := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{BinDir: bin, GitRoot: gitRoot, Flux: true})
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
