// Package browsertest starts Debian's headless Chromium for tests that
// read pages as a person's browser does, through chromedp.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Start starts headless Chromium for a test and returns a tab's context,
// which ends after timeout. Without chromium the test is skipped loudly,
// and fails in CI, which must run it.
func Start(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("SKIPPING BROWSER TEST: chromium is not installed (apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true))
	// Not t.Context(): it ends before cleanups run, and the screenshot of
	// a failure is taken in one.
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return ctx
}

// KeepScreenshot saves the tab's screenshot as a test artefact named
// name.png when the test failed.
func KeepScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		file := filepath.Join(t.ArtifactDir(), name+".png")
		if err := os.WriteFile(file, png, 0o644); err == nil {
			t.Logf("screenshot: %s", file)
		}
	})
}
