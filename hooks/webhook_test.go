package hooks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/store"
)

const secret = "webhook-secret-for-tests"

// examples reads GitHub's example payloads of an event from
// @octokit/webhooks-examples (make tools installs it).
func examples(t testing.TB, event string) []json.RawMessage {
	t.Helper()
	return githubtest.Examples(t, "..", event)
}

// pick returns the first example whose JSON has all the given fragments.
func pick(t testing.TB, event string, fragments ...string) []byte {
	t.Helper()
	for _, raw := range examples(t, event) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			t.Fatal(err)
		}
		ex := buf.Bytes()
		ok := true
		for _, f := range fragments {
			ok = ok && bytes.Contains(ex, []byte(f))
		}
		if ok {
			return ex
		}
	}
	t.Fatalf("no %s example with %v", event, fragments)
	return nil
}

// sign signs a body as GitHub does.
func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// signWith signs a body with another algorithm than GitHub's, under a
// prefix.
func signWith(prefix string, h func() hash.Hash) func([]byte) string {
	return func(body []byte) string {
		m := hmac.New(h, []byte(secret))
		m.Write(body)
		return prefix + hex.EncodeToString(m.Sum(nil))
	}
}

// edit returns a payload with one top-level member set.
func edit(t testing.TB, body []byte, member string, value any) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	p[member] = value
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushExample returns GitHub's example push to a branch, and the branch.
func pushExample(t testing.TB) ([]byte, string) {
	t.Helper()
	push := pick(t, "push", `"ref":"refs/heads/`)
	var p struct {
		Ref string `json:"ref"`
	}
	if err := json.Unmarshal(push, &p); err != nil {
		t.Fatal(err)
	}
	return push, strings.TrimPrefix(p.Ref, "refs/heads/")
}

// pushes returns a function that makes GitHub's example push payload for
// a commit of main; the examples are read once.
func pushes(t testing.TB) func(sha string) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(pick(t, "push", `"ref":"refs/heads/`), &p); err != nil {
		t.Fatal(err)
	}
	return func(sha string) []byte {
		q := maps.Clone(p)
		q["ref"], q["after"] = "refs/heads/main", sha
		body, _ := json.Marshal(q)
		return body
	}
}

type harness struct {
	store *store.Store
	dir   string
	srv   *httptest.Server
	logs  *bytes.Buffer
}

func newHarness(t testing.TB, dir, branch string) *harness {
	t.Helper()
	s, err := store.Open(t.Context(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	m := must(NewMetrics(MetricsConfig{Depth: s.Queue().Depth, Extra: s.Metrics()}))(t)
	r := must(NewReceiver(ReceiverConfig{Secret: secret, Queue: s.Queue(), SourceBranch: branch, Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m}))(t)
	app := must(NewApp(AppConfig{Receiver: r, Metrics: m}))(t)
	ln := httptest.NewUnstartedServer(nil)
	h := &harness{store: s, dir: dir, logs: logs}
	go app.Listener(ln.Listener)
	h.srv = ln
	t.Cleanup(func() {
		app.Shutdown()
		s.Close()
	})
	return h
}

// must takes what a constructor returns and gives a function that returns
// the value, failing the test when the constructor failed.
func must[T any](v T, err error) func(t testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (h *harness) url() string { return "http://" + h.srv.Listener.Addr().String() }

func (h *harness) post(t *testing.T, event, delivery, signature string, body []byte) (int, Reply) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url()+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if event != "" {
		req.Header.Set("X-GitHub-Event", event)
	}
	if delivery != "" {
		req.Header.Set("X-GitHub-Delivery", delivery)
	}
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Every answer says how long the service took (GitHub's delivery log
	// shows it; the load benchmark reads it).
	if got := resp.Header.Get("Server-Timing"); !strings.HasPrefix(got, "app;dur=") {
		t.Errorf("Server-Timing = %q, want app;dur=<milliseconds>", got)
	}
	b, _ := io.ReadAll(resp.Body)
	var r Reply
	json.Unmarshal(b, &r)
	return resp.StatusCode, r
}

func (h *harness) depth(t *testing.T) int64 {
	t.Helper()
	d, err := h.store.Queue().Depth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	push, branch := pushExample(t)
	h := newHarness(t, t.TempDir(), branch)

	tests := []struct {
		name      string
		event     string
		delivery  string
		signature func([]byte) string
		body      []byte
		status    int
		result    string
		queued    int64 // queue depth after
		says      string
	}{
		{"ping", "ping", "d-ping", sign, pick(t, "ping", `"zen"`), 200, "pong", 0, ""},
		{"bad signature", "push", "d-bad", func([]byte) string { return sign([]byte("other")) }, push, 401, "bad_signature", 0, ""},
		{"missing signature", "push", "d-unsigned", func([]byte) string { return "" }, push, 401, "unsigned", 0, ""},
		{"malformed json", "push", "d-malformed", sign, []byte(`{"ref": `), 400, "malformed", 0, ""},
		{"unknown event", "issues", "d-issues", sign, pick(t, "issues"), 202, "ignored", 0, ""},
		{"push to another branch", "push", "d-tag", sign, pick(t, "push", `"ref":"refs/tags/`), 202, "ignored", 0, ""},
		{"push to the source branch", "push", "d-push", sign, push, 202, "queued", 0, ""}, // a signal, not a job
		{"replayed push", "push", "d-push", sign, push, 200, "duplicate", 0, ""},
		{"pull request opened", "pull_request", "d-pr-opened", sign, pick(t, "pull_request", `"action":"opened"`), 202, "queued", 1, ""},
		{"pull request synchronized", "pull_request", "d-pr-sync", sign, pick(t, "pull_request", `"action":"synchronize"`), 202, "queued", 2, ""},
		{"pull request reopened", "pull_request", "d-pr-reopened", sign, pick(t, "pull_request", `"action":"reopened"`), 202, "queued", 3, ""},
		{"pull request closed", "pull_request", "d-pr-closed", sign, pick(t, "pull_request", `"action":"closed"`), 202, "ignored", 3, ""},
		{"no delivery id", "push", "", sign, push, 400, "malformed", 3, ""},
		{"sha1 signature", "push", "d-sha1", signWith("sha1=", sha1.New), push, 401, "bad_signature", 3, ""},
		{"sha512 signature", "push", "d-sha512", signWith("sha512=", sha512.New), push, 401, "bad_signature", 3, ""},
		{"sha256 prefix on a sha1 mac", "push", "d-sha1-as-256", signWith("sha256=", sha1.New), push, 401, "bad_signature", 3, ""},
		{"push without after", "push", "d-no-after", sign, edit(t, push, "after", ""), 400, "malformed", 3, "after"},
		{"push with a garbage after", "push", "d-garbage-after", sign, edit(t, push, "after", "../../etc"), 400, "malformed", 3, "after"},
		{"push with an uppercase after", "push", "d-upper-after", sign, edit(t, push, "after", strings.Repeat("AB", 20)), 400, "malformed", 3, "after"},
		{"push with a zero after, not deleted", "push", "d-zero-after", sign, edit(t, push, "after", strings.Repeat("0", 40)), 400, "malformed", 3, "after"},
		{"push of a sha-256 commit", "push", "d-sha256-after", sign, edit(t, push, "after", strings.Repeat("ab", 32)), 202, "queued", 3, ""},
		{"source branch deleted", "push", "d-deleted", sign, edit(t, edit(t, push, "after", strings.Repeat("0", 40)), "deleted", true), 202, "ignored", 3, "was deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reply := h.post(t, tt.event, tt.delivery, tt.signature(tt.body), tt.body)
			if status != tt.status || reply.Result != tt.result || !strings.Contains(reply.Message, tt.says) {
				t.Errorf("%d %q (%s), want %d %q (%s)", status, reply.Result, reply.Message, tt.status, tt.result, tt.says)
			}
			if d := h.depth(t); d != tt.queued {
				t.Errorf("%d jobs queued, want %d", d, tt.queued)
			}
		})
	}

	// An oversized body is refused from its Content-Length, before it is
	// read beyond the server's first 8 KiB: a raw request that announces
	// one and sends 16 KiB.
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d-big\r\nX-Hub-Signature-256: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", sign(push), MaxWebhookBody+1, bytes.Repeat([]byte(" "), 16<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conn.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	}
	if d := h.depth(t); d != 3 {
		t.Errorf("oversized body queued work: depth %d", d)
	}

	if strings.Contains(h.logs.String(), secret) {
		t.Error("the webhook secret reached the logs")
	}
	if n := strings.Count(h.logs.String(), `"msg":"webhook delivery"`); n != len(tests)+1 {
		t.Errorf("%d log lines for %d deliveries", n, len(tests)+1)
	}
	resp, err = http.Get(h.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pushes := 1 // the oversized body
	for _, tt := range tests {
		if tt.event == "push" {
			pushes++
		}
	}
	for _, want := range []string{
		`slipway_webhook_deliveries_total{event="push",result="queued"} 2`, `slipway_webhook_deliveries_total{event="other",result="ignored"} 1`,
		`slipway_webhook_deliveries_total{event="push",result="too_large"} 1`, "slipway_queue_depth 3",
		fmt.Sprintf(`slipway_webhook_duration_seconds_count{event="push"} %d`, pushes), `slipway_webhook_duration_seconds_count{event="pull_request"} 4`,
		"etcd_disk_wal_fsync_duration_seconds_count", // the embedded etcd's
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestReplayAfterRestart: a delivery handled before a restart does
// nothing new after it.
func TestReplayAfterRestart(t *testing.T) {
	t.Parallel()
	push, branch := pushExample(t)
	dir := t.TempDir()
	status, first := func() (int, int64) {
		h := newHarness(t, dir, branch)
		defer h.store.Close()
		status, _ := h.post(t, "push", "d-restart", sign(push), push)
		rev, _, err := h.store.Queue().Signalled(t.Context(), SignalDeploy)
		if err != nil {
			t.Fatal(err)
		}
		return status, rev
	}()
	if status != http.StatusAccepted {
		t.Fatalf("first delivery: %d", status)
	}
	h := newHarness(t, dir, branch)
	status, reply := h.post(t, "push", "d-restart", sign(push), push)
	if status != http.StatusOK || reply.Result != "duplicate" {
		t.Errorf("replay after restart: %d %s", status, reply.Result)
	}
	if rev, _, err := h.store.Queue().Signalled(t.Context(), SignalDeploy); err != nil || rev != first {
		t.Errorf("the replay asked for a deploy again: signal at revision %d, want %d (%v)", rev, first, err)
	}
}

// TestMetricsAfterBadDeliveries: label values outlive the request whose
// headers they came from; two bad deliveries with different events on one
// connection must not corrupt the metrics registry.
func TestMetricsAfterBadDeliveries(t *testing.T) {
	t.Parallel()
	push, branch := pushExample(t)
	h := newHarness(t, t.TempDir(), branch)
	bad := sign([]byte("other"))
	for i, event := range []string{"push", "ping", "pull_request", "push", "ping"} {
		if status, _ := h.post(t, event, fmt.Sprintf("d-bad-%d", i), bad, push); status != http.StatusUnauthorized {
			t.Fatalf("bad delivery %d: %d, want 401", i, status)
		}
	}
	resp, err := http.Get(h.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`slipway_webhook_deliveries_total{event="push",result="bad_signature"} 2`,
		`slipway_webhook_deliveries_total{event="ping",result="bad_signature"} 2`,
		`slipway_webhook_deliveries_total{event="pull_request",result="bad_signature"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}

// TestQueueUnavailable: a push the queue could not record is answered 503,
// so that GitHub may redeliver it, never as handled before; and its
// redelivery, once the queue answers, is queued.
func TestQueueUnavailable(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := must(NewMetrics(MetricsConfig{Depth: s.Queue().Depth}))(t)
	r := must(NewReceiver(ReceiverConfig{Secret: secret, Queue: s.Queue(), SourceBranch: "main", Log: slog.New(slog.DiscardHandler), Metrics: m}))(t)
	body := pushes(t)(strings.Repeat("a", 40))
	delivery := func() Delivery {
		return Delivery{Event: "push", ID: "unavailable-1", Signature: sign(body), ContentType: "application/json", Length: int64(len(body)), Body: bytes.NewReader(body)}
	}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if got := r.Receive(gone, delivery()); got.Status != http.StatusServiceUnavailable || got.Result != "error" {
		t.Errorf("with the queue unavailable: %d %s, want 503 error", got.Status, got.Result)
	}
	if got := r.Receive(t.Context(), delivery()); got.Status != http.StatusAccepted || got.Result != "queued" {
		t.Errorf("redelivered: %d %s, want 202 queued", got.Status, got.Result)
	}
}
