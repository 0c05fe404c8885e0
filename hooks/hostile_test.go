package hooks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/slipway-gitops/slipway/store"
)

// rawRequest is the head of a signed-looking push delivery whose body is
// length bytes.
func rawRequest(delivery string, length int) string {
	return fmt.Sprintf("POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: %s\r\n"+
		"X-Hub-Signature-256: sha256=%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		delivery, strings.Repeat("ab", 32), length)
}

// TestSlowClientsAreCutOff: clients that send a request a byte at a time
// are disconnected by the server's read timeout instead of holding their
// connections open. Each sends one byte every half second of a request
// that would take minutes; the test ends when the server has cut them all.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	_, branch := pushExample(t)
	h := newHarness(t, t.TempDir(), branch)
	const clients = 100
	request := []byte(rawRequest("d-slow", 200) + strings.Repeat(" ", 200))
	var wg sync.WaitGroup
	completed := make(chan int, clients)
	for i := range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			closed := make(chan struct{})
			go func() {
				io.Copy(io.Discard, conn) // returns when the server closes
				close(closed)
			}()
			for _, b := range request {
				if _, err := conn.Write([]byte{b}); err != nil {
					return
				}
				select {
				case <-closed:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
			completed <- i
		})
	}
	wg.Wait()
	close(completed)
	for i := range completed {
		t.Errorf("slow client %d sent its whole request without being cut off", i)
	}
	if got := metricValue(t, h, `slipway_http_refused_total{status="408"}`); got == 0 {
		t.Error("the cut-off requests were not counted")
	}
}

// TestStalledBodies: clients that announce the largest body, send most
// of it and stall hold at most the spool budget, are cut off by the read
// timeout, and do not stop honest deliveries meanwhile.
func TestStalledBodies(t *testing.T) {
	t.Parallel()
	push, branch := pushExample(t)
	h := newHarness(t, t.TempDir(), branch)
	const clients = 10
	type answer struct {
		status int
		err    error
	}
	answers := make(chan answer, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute)) // on the test's side, to end it
			go func() {
				// Most of the body, then a stall; the write ends early
				// when the server refuses and closes.
				conn.Write([]byte(rawRequest(fmt.Sprintf("d-stall-%d", i), MaxWebhookBody)))
				conn.Write(bytes.Repeat([]byte(" "), MaxWebhookBody-1<<20))
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			resp.Body.Close()
			answers <- answer{status: resp.StatusCode}
		})
	}
	// While they stall, an honest delivery goes through.
	if status, reply := h.post(t, "push", "d-honest", sign(push), push); status != http.StatusAccepted {
		t.Errorf("honest delivery during the stall: %d %s", status, reply.Message)
	}
	wg.Wait()
	close(answers)
	var seen []answer
	for a := range answers {
		seen = append(seen, a)
		if a.status != 0 && a.status != http.StatusServiceUnavailable && a.status != http.StatusRequestTimeout {
			t.Errorf("a stalled client got %d", a.status)
		}
		if errors.Is(a.err, os.ErrDeadlineExceeded) {
			t.Errorf("a stalled client was not cut off: %v", a.err)
		}
	}
	// Refused clients may see their connection reset before the 503: count
	// on the server's side.
	held := spoolBudget / MaxWebhookBody
	if busy := metricValue(t, h, `slipway_webhook_deliveries_total{event="push",result="busy"}`); busy < clients-held {
		t.Errorf("%d stalled bodies refused at once, want %d or more", busy, clients-held)
	}
	if timeouts := metricValue(t, h, `slipway_webhook_deliveries_total{event="push",result="timeout"}`); timeouts > held {
		t.Errorf("%d stalled bodies read until the timeout, want %d at most", timeouts, held)
	}
	if t.Failed() {
		t.Logf("the clients saw %+v; the server counted:\n%s", seen, metricLines(t, h, "slipway_webhook_deliveries_total", "slipway_http_refused_total"))
	}
}

func TestBodyBudget(t *testing.T) {
	t.Parallel()
	b := newBodyBudget()
	var held []*heldBody
	read := func(length int64, send int) error {
		h, err := b.read(io.LimitReader(infiniteSpaces{}, int64(send)), length, newMAC(nil))
		if err == nil {
			held = append(held, h)
		}
		return err
	}
	steps := []struct {
		name         string
		length       int64
		send         int
		want         error
		memory, disk int64 // budgets in use after
	}{
		{"a small body is held in memory as it arrives", 20 << 10, 20 << 10, nil, 20 << 10, 0},
		{"the largest body is spooled through one chunk", MaxWebhookBody, MaxWebhookBody, nil, 20<<10 + bodyChunk, MaxWebhookBody},
		{"a body of unknown length counts as the largest", -1, 1 << 20, nil, 20<<10 + 2*bodyChunk, spoolBudget},
		{"no spool left for a third", MaxWebhookBody, MaxWebhookBody, errBusy, 20<<10 + 2*bodyChunk, spoolBudget},
		{"small bodies still fit", 1, 1, nil, 20<<10 + 2*bodyChunk + 1, spoolBudget},
		{"a body shorter than announced", 100, 10, io.ErrUnexpectedEOF, 20<<10 + 2*bodyChunk + 1, spoolBudget},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := read(st.length, st.send); !errors.Is(err, st.want) {
				t.Errorf("read: %v, want %v", err, st.want)
			}
			if !b.memory.TryAcquire(memoryBudget-st.memory) || b.memory.TryAcquire(1) {
				t.Errorf("memory in use is not %d", st.memory)
			} else {
				b.memory.Release(memoryBudget - st.memory)
			}
			if !b.spool.TryAcquire(spoolBudget-st.disk) || b.spool.TryAcquire(1) {
				t.Errorf("spool in use is not %d", st.disk)
			} else {
				b.spool.Release(spoolBudget - st.disk)
			}
		})
	}
	t.Run("the memory budget ends", func(t *testing.T) {
		n := 0
		for read(bodyChunk, bodyChunk) == nil {
			n++
		}
		if want := (memoryBudget - steps[len(steps)-1].memory) / bodyChunk; int64(n) != want {
			t.Errorf("%d more bodies of a chunk fit, want %d", n, want)
		}
	})
	t.Run("a body of unknown length over the limit", func(t *testing.T) {
		_, err := newBodyBudget().read(io.LimitReader(infiniteSpaces{}, MaxWebhookBody+1), -1, newMAC(nil))
		if !errors.Is(err, errTooLarge) {
			t.Errorf("read: %v, want %v", err, errTooLarge)
		}
	})
	t.Run("closing gives everything back", func(t *testing.T) {
		for _, h := range held {
			h.close()
		}
		if !b.memory.TryAcquire(memoryBudget) || !b.spool.TryAcquire(spoolBudget) {
			t.Error("the budgets are not whole again")
		}
	})
}

// infiniteSpaces reads as spaces without end.
type infiniteSpaces struct{}

func (infiniteSpaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// metricValue returns the value of one series of the service's metrics,
// 0 when it is absent.
func metricValue(t *testing.T, h *harness, series string) int {
	t.Helper()
	for _, line := range strings.Split(metricLines(t, h, series+" "), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// metricLines returns the lines of /metrics that start with one of the
// prefixes.
func metricLines(t *testing.T, h *harness, prefixes ...string) string {
	t.Helper()
	resp, err := http.Get(h.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(line, p) }) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestLargeAndChunkedDeliveries: bodies spooled to disk while they are
// verified (over smallBody, or of unknown length: chunked) are queued as
// those held in memory are.
func TestLargeAndChunkedDeliveries(t *testing.T) {
	t.Parallel()
	push, branch := pushExample(t)
	h := newHarness(t, t.TempDir(), branch)
	large := edit(t, push, "padding", strings.Repeat("x", smallBody))
	tests := []struct {
		name    string
		body    []byte
		chunked bool
	}{
		{"large", large, false},
		{"chunked", push, true},
		{"large and chunked", large, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url()+"/hooks/github", body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-large-%d", i))
			req.Header.Set("X-Hub-Signature-256", sign(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
				t.Errorf("%d: %s", resp.StatusCode, b)
			}
		})
	}
}

// FuzzReceiveBody feeds any signature and body through the receiver's
// reading and verification: nothing panics, and what passes is exactly
// the body the request announces (its first length bytes, or all of it
// when the length is unknown) under its own sha256 signature, whose hex
// digits may be written in either case: they name the same MAC.
func FuzzReceiveBody(f *testing.F) {
	f.Add("sha256="+strings.Repeat("ab", 32), []byte(`{"ref":"refs/heads/main"}`), int64(-1))
	f.Add("sha1=0123", []byte(""), int64(0))
	f.Add(sign([]byte("{}")), []byte("{}"), int64(2))
	r := &Receiver{secret: []byte(secret), bodies: newBodyBudget()}
	f.Fuzz(func(t *testing.T, signature string, body []byte, length int64) {
		if length > MaxWebhookBody {
			length = -1
		}
		want, ok := parseSignature(signature)
		if !ok {
			return
		}
		got, _, ok := r.verifiedBody(Delivery{Body: bytes.NewReader(body), Length: length}, want)
		announced := body
		if length >= 0 && length <= int64(len(body)) {
			announced = body[:length]
		}
		if ok && (!strings.EqualFold(signature, sign(announced)) || !bytes.Equal(got, announced) || (length >= 0 && int64(len(got)) != length)) {
			t.Errorf("verified %q with %q (length %d)", body, signature, length)
		}
	})
}

// TestHandlerPanic: a handler that panics answers its own request with a
// 500 that does not repeat the panic, and a logged stack; the service
// goes on serving everyone else.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	logs := &bytes.Buffer{}
	m := must(NewMetrics(MetricsConfig{Depth: s.Queue().Depth, Extra: s.Metrics()}))(t)
	r := must(NewReceiver(ReceiverConfig{Secret: secret, Queue: s.Queue(), SourceBranch: "main", Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m}))(t)
	app := must(NewApp(AppConfig{Receiver: r, Metrics: m}))(t)
	app.Get("/panics", func(*fiber.Ctx) error { panic("a bug in a handler") })

	for _, tc := range []struct {
		path string
		want int
	}{
		{"/panics", http.StatusInternalServerError},
		{"/healthz", http.StatusOK},
	} {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, tc.path, nil), -1)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
		if strings.Contains(string(body), "a bug in a handler") {
			t.Errorf("GET %s: the answer tells the client the panic: %s", tc.path, body)
		}
	}
	if got := logs.String(); !strings.Contains(got, `"msg":"handler panicked"`) || !strings.Contains(got, "a bug in a handler") {
		t.Errorf("the panic is not logged with its value:\n%s", got)
	}
}

// TestMultipartBodiesAreNotPreRead: a request that says its body is a
// multipart form is answered by its route like any other, without the
// server reading the form first: read before any handler, a form's files
// would be spooled to disk and its fields held in memory for anyone, with
// no budget and before the signature is checked. Each request announces
// a gigabyte and sends the start of a form; its answer must come from the
// route, before the rest is sent.
func TestMultipartBodiesAreNotPreRead(t *testing.T) {
	t.Parallel()
	_, branch := pushExample(t)
	h := newHarness(t, t.TempDir(), branch)
	tests := []struct {
		name, path string
		want       int
	}{
		{"webhook", "/hooks/github", http.StatusRequestEntityTooLarge},
		{"no route", "/nowhere", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute)) // on the test's side, to end it
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d-form\r\n"+
				"X-Hub-Signature-256: sha256=%s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n",
				tt.path, strings.Repeat("ab", 32), 1<<30)
			form := "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n" + strings.Repeat("x", 64<<10)
			if _, err := io.WriteString(conn, head+form); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the rest of the form: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
