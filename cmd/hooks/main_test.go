package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// bound is how long the test waits for the service: it starts an
// embedded etcd and clones, which takes seconds on an idle machine.
const bound = 3 * time.Minute

// TestCredentialsNeverShown runs the service on a source URL with a
// password, against a smart-HTTP remote that requires it, and then takes
// the repository away: the start line, /readyz, the API's 502 answers and
// the failing deploys' log name the remote without the password.
func TestCredentialsNeverShown(t *testing.T) {
	t.Parallel()
	const user, password = "deployer", "s3cret-password-4711"
	source, bare := gittest.AuthRemote(t, "../../fixtures/repo", user, password)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	logs := &testutil.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.NewJSONHandler(logs, nil)), envconfig.MapLookuper(map[string]string{
			"HOOKS_ADDR":                  addr,
			"HOOKS_SOURCE_REPO":           source.String(),
			"HOOKS_GITHUB_WEBHOOK_SECRET": "a-webhook-secret-of-some-length",
			"HOOKS_DATA_DIR":              t.TempDir(),
			"HOOKS_RESYNC_INTERVAL":       "1s",
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the service stopped with %v", err)
		}
		if strings.Contains(logs.String(), password) {
			t.Errorf("the log shows the password:\n%s", logs)
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(path string, status int) string {
		t.Helper()
		for began := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			got, body := get(path)
			if got == status {
				return body
			}
			if time.Since(began) > bound {
				t.Fatalf("GET %s: %d %s; waited %s for %d", path, got, body, bound, status)
			}
		}
	}
	waitFor("/readyz", http.StatusOK)
	shown := user + ":xxxxx@" + source.Host
	if !strings.Contains(logs.String(), `"msg":"hooks listening"`) || !strings.Contains(logs.String(), shown) {
		t.Errorf("the start line does not name the source as %s:\n%s", shown, logs)
	}

	if err := os.RemoveAll(bare); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/readyz", http.StatusServiceUnavailable},
		{"/api/deploys", http.StatusBadGateway},
	} {
		if body := waitFor(tc.path, tc.status); strings.Contains(body, password) || !strings.Contains(body, shown) {
			t.Errorf("GET %s: %s; want the remote named as %s, without the password", tc.path, body, shown)
		}
	}
	for began := time.Now(); !strings.Contains(logs.String(), "deploy failed"); time.Sleep(50 * time.Millisecond) {
		if time.Since(began) > bound {
			t.Fatalf("no deploy failed within %s", bound)
		}
	}
}
