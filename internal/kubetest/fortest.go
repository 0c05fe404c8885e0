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
	return ForTestWith(t, Options{BinDir: binDir, Flux: flux})
}

// ForTestWith is ForTest for a stack of opts (kustomize-controller's
// flags, extra CRDs), whose BinDir may be relative and whose GitRoot is
// a temporary directory.
func ForTestWith(t testing.TB, opts Options) (*Stack, string) {
	t.Helper()
	bin, _ := filepath.Abs(opts.BinDir)
	if missing := MissingBinaries(bin); len(missing) > 0 {
		msg := fmt.Sprintf("SKIPPED LOUDLY: the kube stack's binaries %v are missing from %s: run make kube-tools", missing, bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	opts.BinDir, opts.GitRoot = bin, t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
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
	return s, opts.GitRoot
}
