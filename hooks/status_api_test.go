package hooks

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/testutil"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/store"
)

// serveStatus serves a StatusAPI over an embedded etcd on loopback.
func serveStatus(t testing.TB, access ReadAccess) (*store.Store, string) {
	t.Helper()
	return serveStatusWith(t, access, fiber.Config{})
}

// serveStatusWith serves a StatusAPI from a server configured as cfg says.
func serveStatusWith(t testing.TB, access ReadAccess, cfg fiber.Config) (*store.Store, string) {
	t.Helper()
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	cfg.DisableStartupMessage = true
	app := fiber.New(cfg)
	must(NewStatusAPI(StatusAPIConfig{Reader: s, Access: access, Heartbeat: 50 * time.Millisecond, Done: done}))(t).Mount(app)
	t.Cleanup(func() { _ = s.Close() })
	url := testutil.ServeApp(t, app)
	t.Cleanup(func() { close(done) })
	return s, url
}

func put(t *testing.T, s *store.Store, key, value string) {
	t.Helper()
	if _, err := s.PutStatus(t.Context(), key, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sse reads events from a stream.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

type sseEvent struct{ id, kind, data string }

func openEvents(t testing.TB, url string, header ...string) *sse {
	t.Helper()
	// A stream that never sends what a test waits for ends the test in a
	// minute rather than hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	return &sse{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event, skipping comments (heartbeats).
func (s *sse) next(t testing.TB) sseEvent {
	t.Helper()
	var e sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && e.kind != "":
			return e
		case strings.HasPrefix(line, "id: "):
			e.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.data = line[6:]
		}
	}
}

func TestStatusAPI(t *testing.T) {
	t.Parallel()
	s, base := serveStatus(t, ReadAccess{})
	put(t, s, "clusters/prod", `{"name":"prod","watched":false,"health":"NotWatched","workflows":["shop"]}`)
	put(t, s, "workflows/shop", `{"name":"shop","cluster":"prod","health":"Progressing","sync":{"state":"Applying"},"drift":{},"nodes":[]}`)
	t.Run("overview", func(t *testing.T) {
		code, body := get(t, base+"/api/status")
		if code != 200 || !strings.Contains(body, `"clusters":[{"name":"prod","watched":false,"health":"NotWatched"`) ||
			!strings.Contains(body, `"workflows":[{"name":"shop","cluster":"prod","health":"Progressing"`) {
			t.Errorf("GET /api/status = %d %s", code, body)
		}
	})
	t.Run("one workflow", func(t *testing.T) {
		if code, body := get(t, base+"/api/workflows/shop/status"); code != 200 || !strings.Contains(body, `"sync":{"state":"Applying"}`) {
			t.Errorf("GET = %d %s", code, body)
		}
		if code, _ := get(t, base+"/api/workflows/none/status"); code != 404 {
			t.Errorf("unknown workflow: %d", code)
		}
	})
	t.Run("events: current state, then each change, then resume", func(t *testing.T) {
		ev := openEvents(t, base+"/api/events")
		first, second := ev.next(t), ev.next(t)
		if first.kind != "cluster" || second.kind != "workflow" || !strings.Contains(second.data, `"Progressing"`) {
			t.Fatalf("initial events %+v %+v", first, second)
		}
		put(t, s, "workflows/shop", `{"name":"shop","health":"Healthy"}`)
		changed := ev.next(t)
		if changed.kind != "workflow" || changed.data != `{"name":"shop","health":"Healthy"}` || changed.id <= second.id {
			t.Fatalf("change event %+v", changed)
		}
		// Changes while a client is away arrive when it resumes.
		put(t, s, "workflows/shop", `{"name":"shop","health":"Degraded"}`)
		put(t, s, "workflows/blog", `{"name":"blog","health":"Healthy"}`)
		again := openEvents(t, base+"/api/events", "Last-Event-ID", changed.id)
		a, b := again.next(t), again.next(t)
		if a.data != `{"name":"shop","health":"Degraded"}` || b.data != `{"name":"blog","health":"Healthy"}` {
			t.Errorf("resumed events %+v %+v", a, b)
		}
	})
}

// A stream outlives the server's WriteTimeout, which bounds each of its
// writes rather than the whole stream.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	s, base := serveStatusWith(t, ReadAccess{}, fiber.Config{WriteTimeout: 200 * time.Millisecond})
	ev := openEvents(t, base+"/api/events?after=0")
	time.Sleep(time.Second) // heartbeats meanwhile, every 50 ms
	put(t, s, "workflows/late", `{"name":"late","health":"Healthy"}`)
	if e := ev.next(t); e.kind != "workflow" || e.data != `{"name":"late","health":"Healthy"}` {
		t.Errorf("event after the write timeout: %+v", e)
	}
}

func TestReadAccess(t *testing.T) {
	t.Parallel()
	const token = "read-token-0123456789"
	_, base := serveStatus(t, ReadAccess{Tokens: []string{token}, IdentityHeader: "X-Forwarded-User"})
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"no credentials", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer nope"}, 401},
		{"token", []string{"Authorization", "Bearer " + token}, 200},
		{"identity from the proxy", []string{"X-Forwarded-User", "ada"}, 200},
		{"empty identity", []string{"X-Forwarded-User", " "}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := get(t, base+"/api/status", tc.header...); code != tc.want {
				t.Errorf("GET /api/status = %d %s, want %d", code, body, tc.want)
			}
		})
	}
}
