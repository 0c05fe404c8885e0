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

// ForTestWith is ForTest for a stack of opts (Flux controllers' flags,
// extra CRDs), whose BinDir may be relative and whose GitRoot is
// a temporary directory.
func ForTestWith(t testing.TB, opts Options) (*Stack, string) {
	t.Helper()
	opts.BinDir, opts.GitRoot = requireBinaries(t, opts.BinDir), t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	stopWhenDone(t, s.Dir, s.Stop)
	return s, opts.GitRoot
}

// requireBinaries returns binDir made absolute, skipping the test loudly
// when it lacks a binary, and failing it in CI, which must run it.
func requireBinaries(t testing.TB, binDir string) string {
	t.Helper()
	bin, _ := filepath.Abs(binDir)
	if missing := MissingBinaries(bin); len(missing) > 0 {
		msg := fmt.Sprintf("SKIPPED LOUDLY: the kube stack's binaries %v are missing from %s: run make kube-tools", missing, bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	return bin
}

// stopWhenDone stops what runs in dir when the test ends, and removes dir
// unless the test failed: then its logs are kept.
func stopWhenDone(t testing.TB, dir string, stop func()) {
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("kube stack logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
}
