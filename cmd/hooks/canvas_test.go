package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestCanvasBootstrapAccount runs the service with the canvas API and a
// bootstrap account from the environment: the account signs in on
// /v1/api, a route Slipway does not serve there answers 404 JSON, and the
// password is never logged. A second start keeps the account.
func TestCanvasBootstrapAccount(t *testing.T) {
	t.Parallel()
	const email, password = "admin@example.com", "bootstrap-password-4711"
	source := gittest.FixtureRepo(t, "../../fixtures/repo")
	data := t.TempDir()
	for start := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		logs := &testutil.Buffer{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, slog.New(slog.NewJSONHandler(logs, nil)), envconfig.MapLookuper(map[string]string{
				"HOOKS_ADDR":                  addr,
				"HOOKS_SOURCE_REPO":           source,
				"HOOKS_GITHUB_WEBHOOK_SECRET": "a-webhook-secret-of-some-length",
				"HOOKS_DATA_DIR":              data,
				"HOOKS_CANVAS":                "true",
				"HOOKS_CANVAS_ADMIN_EMAIL":    email,
				"HOOKS_CANVAS_ADMIN_PASSWORD": password,
			}))
		}()
		post := func(path, body string) (int, string) {
			resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		var status int
		var body string
		for began := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			if status, body = post("/v1/api/auth/login", `{"email":"`+email+`","password":"`+password+`"}`); status != 0 || time.Since(began) > bound {
				break
			}
		}
		var login struct{ Token string }
		if err := json.Unmarshal([]byte(body), &login); status != http.StatusOK || err != nil || login.Token == "" {
			t.Errorf("start %d: login: %d %s", start, status, body)
		}
		if status, body := post("/v1/api/workflows/shop/clone", `{}`); status != http.StatusNotFound || !json.Valid([]byte(body)) {
			t.Errorf("start %d: a route not served: %d %s, want 404 JSON", start, status, body)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("start %d: the service stopped with %v", start, err)
		}
		if strings.Contains(logs.String(), password) {
			t.Errorf("start %d: the log shows the password:\n%s", start, logs)
		}
	}
}
