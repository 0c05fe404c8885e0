package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/testutil"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sethvargo/go-envconfig"

	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// eventsService is the service's HTTP parts as cmd/hooks builds them
// (webhooks, /healthz, the status API and its streams) over an embedded
// etcd on loopback.
type eventsService struct {
	store *store.Store
	api   *StatusAPI
	url   string
	// reader is what the status API reads through.
	reader *countingReader
}

// countingReader reads the records from the store and counts the reads
// and watches it starts.
type countingReader struct {
	StatusReader
	reads, watches atomic.Int64
}

func (c *countingReader) StreamRecords(ctx context.Context) ([]store.StatusRecord, int64, error) {
	c.reads.Add(1)
	return c.StatusReader.StreamRecords(ctx)
}

func (c *countingReader) WatchStream(ctx context.Context, after int64, fn func(store.StatusRecord) error) error {
	c.watches.Add(1)
	return c.StatusReader.WatchStream(ctx, after, fn)
}

// serveEvents serves the service's HTTP parts with the status API
// configured as cfg says (its Reader and Done are set here).
func serveEvents(t *testing.T, cfg StatusAPIConfig) *eventsService {
	t.Helper()
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m := must(NewMetrics(MetricsConfig{Depth: s.Queue().Depth}))(t)
	r := must(NewReceiver(ReceiverConfig{Secret: secret, Queue: s.Queue(), SourceBranch: "main", Log: slog.New(slog.DiscardHandler), Metrics: m}))(t)
	app := must(NewApp(AppConfig{Receiver: r, Metrics: m}))(t)
	done := make(chan struct{})
	reader := &countingReader{StatusReader: s}
	cfg.Reader, cfg.Done = reader, done
	cfg.Heartbeat = max(cfg.Heartbeat, 50*time.Millisecond)
	api := must(NewStatusAPI(cfg))(t)
	api.Mount(app)
	t.Cleanup(func() { _ = s.Close() })
	url := testutil.ServeApp(t, app)
	t.Cleanup(func() { close(done) })
	return &eventsService{store: s, api: api, url: url, reader: reader}
}

// metric returns the value of one series of the status API's metrics.
func (e *eventsService) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var m prometheus.Metric
	switch name {
	case "slipway_event_streams":
		m = e.api.metrics.open
	case "slipway_event_streams_refused_total":
		m = e.api.metrics.refused.WithLabelValues(labels...)
	case "slipway_event_streams_cut_total":
		m = e.api.metrics.cut.WithLabelValues(labels...)
	default:
		t.Fatalf("no metric %s", name)
	}
	var v dto.Metric
	if err := m.Write(&v); err != nil {
		t.Fatal(err)
	}
	return v.GetGauge().GetValue() + v.GetCounter().GetValue()
}

// from returns an HTTP client whose connections come from the loopback
// address ip, without keep-alive.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// openStream opens /api/events with c and returns the response, whose
// body the test closes at its end.
func openStream(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestEventStreamLimits: streams beyond the limits, in all and per client
// address, get 503 with Retry-After at once; a stream that ends makes
// room for another.
func TestEventStreamLimits(t *testing.T) {
	t.Parallel()
	svc := serveEvents(t, StatusAPIConfig{Events: EventsConfig{MaxStreams: 3, MaxStreamsPerClient: 2}})
	a, b, c := from("127.0.0.1"), from("127.0.0.2"), from("127.0.0.3")
	var first *http.Response
	steps := []struct {
		name   string
		client *http.Client
		want   int
		reason string
	}{
		{"a first stream", a, http.StatusOK, ""},
		{"a second from the same address", a, http.StatusOK, ""},
		{"a third from the same address", a, http.StatusServiceUnavailable, refusedClient},
		{"another address", b, http.StatusOK, ""},
		{"a third address, over the total", c, http.StatusServiceUnavailable, refusedTotal},
	}
	// Not subtests: a stream opened is held until the test ends, and a
	// subtest's end would close it.
	for _, st := range steps {
		resp := openStream(t, st.client, svc.url)
		if resp.StatusCode != st.want {
			t.Fatalf("%s: status %d, want %d", st.name, resp.StatusCode, st.want)
		}
		if first == nil {
			first = resp
		}
		if st.want == http.StatusOK {
			continue
		}
		resp.Body.Close()
		// The refused answer is immediate.
		if got := resp.Header.Get("Retry-After"); got != strconv.Itoa(streamRetryAfter) {
			t.Errorf("%s: Retry-After %q", st.name, got)
		}
		if got := svc.metric(t, "slipway_event_streams_refused_total", st.reason); got != 1 {
			t.Errorf("%s: refused for %s: %v, want 1", st.name, st.reason, got)
		}
	}
	if got := svc.metric(t, "slipway_event_streams"); got != 3 {
		t.Errorf("%v streams held, want 3", got)
	}
	// The service notices the closed stream at its next heartbeat.
	first.Body.Close()
	waitFor(t, func() bool {
		resp := openStream(t, c, svc.url)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "a stream to be admitted once one ended")
}

// TestEventStreamsShareOneWatch: however many streams are open, the
// records are read once and watched by one watch.
func TestEventStreamsShareOneWatch(t *testing.T) {
	t.Parallel()
	const streams = 50
	svc := serveEvents(t, StatusAPIConfig{Events: EventsConfig{MaxStreams: streams, MaxStreamsPerClient: streams}})
	put(t, svc.store, "workflows/shop", `{"name":"shop","health":"Progressing"}`)
	var evs []*sse
	for range streams {
		ev := openEvents(t, svc.url+"/api/events")
		if e := ev.next(t); e.data != `{"name":"shop","health":"Progressing"}` {
			t.Fatalf("first event %+v", e)
		}
		evs = append(evs, ev)
	}
	put(t, svc.store, "workflows/shop", `{"name":"shop","health":"Healthy"}`)
	for i, ev := range evs {
		if e := ev.next(t); e.data != `{"name":"shop","health":"Healthy"}` {
			t.Fatalf("stream %d: %+v", i, e)
		}
	}
	if r, w := svc.reader.reads.Load(), svc.reader.watches.Load(); r != 1 || w != 1 {
		t.Errorf("%d streams read the records %d times and watched them %d times, want once each", streams, r, w)
	}
}

// TestEventStreamCutsNonReader: a client that sends its request and never
// reads, while changes are published, is cut off instead of being
// buffered for; meanwhile /healthz and a signed delivery answer, and a
// client that reads gets every change.
func TestEventStreamCutsNonReader(t *testing.T) {
	t.Parallel()
	push, _ := pushExample(t)
	svc := serveEvents(t, StatusAPIConfig{WriteTimeout: time.Second})
	_, rev, err := svc.store.Statuses(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	// The stalled client: a small receive buffer, set before it connects.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return errors.Join(err, serr)
	}}
	stalled, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(svc.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := fmt.Fprintf(stalled, "GET /api/events?after=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", rev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return svc.metric(t, "slipway_event_streams") == 1 }, "the stalled stream to be held")
	// The reading client drains its stream as changes come.
	reader := openEvents(t, fmt.Sprintf("%s/api/events?after=%d", svc.url, rev))
	var lastSeen atomic.Int64
	go func() {
		for {
			line, err := reader.r.ReadString('\n')
			if err != nil {
				return
			}
			if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
				n, _ := strconv.ParseInt(id, 10, 64)
				lastSeen.Store(n)
			}
		}
	}()
	// Changes of 32 KiB each, the next once the reading client has the
	// last, so that it never falls behind, until the stalled stream is
	// cut off.
	value := fmt.Sprintf(`{"name":"big","reason":%q}`, strings.Repeat("x", 32<<10))
	var last int64
	for i := 0; svc.metric(t, "slipway_event_streams") > 1 && i < 1000; i++ {
		seen := lastSeen.Load()
		if _, err := svc.store.PutStatus(t.Context(), "workflows/big", []byte(strings.Replace(value, "x", strconv.Itoa(i%10), 1))); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); lastSeen.Load() == seen; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the reading client did not get change %d", i)
			}
		}
	}
	waitFor(t, func() bool { return svc.metric(t, "slipway_event_streams") == 1 }, "the stalled stream to be cut off")
	timeout, behind := svc.metric(t, "slipway_event_streams_cut_total", cutTimeout), svc.metric(t, "slipway_event_streams_cut_total", cutBehind)
	if timeout+behind != 1 {
		t.Errorf("%v streams cut for a write timeout and %v for falling behind, want 1 in all", timeout, behind)
	}
	t.Logf("cut for a write timeout: %v, for falling behind: %v", timeout, behind)
	t.Run("the service answers", func(t *testing.T) {
		if code, body := get(t, svc.url+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d %s", code, body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, svc.url+"/hooks/github", strings.NewReader(string(push)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "d-during-stall")
		req.Header.Set("X-Hub-Signature-256", sign(push))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			t.Errorf("signed delivery: %d", resp.StatusCode)
		}
	})
	t.Run("the reading client got every change", func(t *testing.T) {
		rec, err := svc.store.Status(t.Context(), "workflows/big")
		if err != nil {
			t.Fatal(err)
		}
		last = rec.Revision
		waitFor(t, func() bool { return lastSeen.Load() == last }, "the reading client to see the last change")
	})
	t.Run("the stalled client's connection is closed", func(t *testing.T) {
		// What the kernel buffered for it, then the end: not a stream that
		// goes on.
		stalled.SetReadDeadline(time.Now().Add(time.Minute))
		_, err := io.Copy(io.Discard, stalled)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the connection stays open: %v", err)
		}
	})
}

func TestEventsConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"HOOKS_SOURCE_REPO":           "https://github.com/example/workflows.git",
		"HOOKS_GITHUB_WEBHOOK_SECRET": "s3cr3t-value-never-logged",
	}
	tests := []struct {
		name string
		env  map[string]string
		want EventsConfig
		err  string
	}{
		{"defaults", nil, EventsConfig{MaxStreams: DefaultMaxStreams, MaxStreamsPerClient: DefaultMaxStreamsPerClient}, ""},
		{"set", map[string]string{"HOOKS_EVENTS_MAX_STREAMS": "50", "HOOKS_EVENTS_MAX_STREAMS_PER_CLIENT": "5"}, EventsConfig{MaxStreams: 50, MaxStreamsPerClient: 5}, ""},
		{"none", map[string]string{"HOOKS_EVENTS_MAX_STREAMS": "0"}, EventsConfig{}, "HOOKS_EVENTS_MAX_STREAMS: 0 is not 1 or more"},
		{"not a number", map[string]string{"HOOKS_EVENTS_MAX_STREAMS": "many"}, EventsConfig{}, "config: HOOKS_EVENTS_MAX_STREAMS: Events: MaxStreams:"},
		{"more per client than in all", map[string]string{"HOOKS_EVENTS_MAX_STREAMS": "10"}, EventsConfig{}, "HOOKS_EVENTS_MAX_STREAMS_PER_CLIENT: 32 is not between 1 and HOOKS_EVENTS_MAX_STREAMS (10)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for _, m := range []map[string]string{base, tt.env} {
				for k, v := range m {
					env[k] = v
				}
			}
			c, err := LoadConfig(t.Context(), envconfig.MapLookuper(env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Events != tt.want {
				t.Errorf("%+v, want %+v", c.Events, tt.want)
			}
		})
	}
}

// TestEventHubSince: what a stream gets from the hub, starting or
// following, as changes are kept and let go.
func TestEventHubSince(t *testing.T) {
	t.Parallel()
	rec := func(key string, rev int64, deleted bool) store.StatusRecord {
		r := store.StatusRecord{Key: key, Revision: rev, Deleted: deleted}
		if !deleted {
			r.Value = []byte(fmt.Sprintf(`{"rev":%d}`, rev))
		}
		return r
	}
	// A change's frame is 41 bytes, a deletion's 55: the backlog keeps
	// the last three of those below.
	h := newEventHub(nil, 140)
	if c, err := h.since(-1, true); err != nil || c.served || len(c.frames) != 0 {
		t.Fatalf("before the hub read the records: %+v %v", c, err)
	}
	h.reset([]store.StatusRecord{rec("status/clusters/prod", 2, false), rec("status/workflows/shop", 5, false), rec("status/workflows/blog", 3, false)}, 10)
	for _, r := range []store.StatusRecord{rec("status/workflows/shop", 11, false), rec("status/workflows/blog", 12, true), rec("status/workflows/shop", 13, false), rec("status/workflows/new", 14, false), rec("status/other/x", 15, false)} {
		h.add(r)
	}
	tests := []struct {
		name     string
		after    int64
		start    bool
		wantRevs []int64
		wantUpTo int64
		behind   bool
	}{
		{"a new stream gets the current records in the order of their writes", -1, true, []int64{2, 13, 14}, 15, false},
		{"resuming within what is kept: every change after", 12, true, []int64{13, 14}, 15, false},
		{"resuming at the first kept change's predecessor", 11, true, []int64{12, 13, 14}, 15, false},
		{"resuming before what is kept: the current records", 10, true, []int64{2, 13, 14}, 15, false},
		// A revision the hub has not reached is no client's: another
		// etcd's, from before its data was replaced, or made up. Waiting
		// for changes after it would show nothing new until the store
		// got that far.
		{"resuming from ahead of the hub: the current records", 20, true, []int64{2, 13, 14}, 15, false},
		{"resuming from far ahead of the hub: the current records", math.MaxInt64, true, []int64{2, 13, 14}, 15, false},
		{"following, up to date", 15, false, nil, 15, false},
		{"following from ahead of the hub", 20, false, nil, 20, false},
		{"following, behind what is kept", 10, false, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h.since(tt.after, tt.start)
			if tt.behind {
				if !errors.Is(err, errBehind) {
					t.Errorf("error %v, want %v", err, errBehind)
				}
				return
			}
			var revs []int64
			for _, f := range c.frames {
				revs = append(revs, f.rev)
			}
			if err != nil || !c.served || fmt.Sprint(revs) != fmt.Sprint(tt.wantRevs) || c.upTo != tt.wantUpTo {
				t.Errorf("since(%d) = %v up to %d, served %v, %v; want %v up to %d", tt.after, revs, c.upTo, c.served, err, tt.wantRevs, tt.wantUpTo)
			}
		})
	}
	t.Run("a deletion is an event with the key", func(t *testing.T) {
		c, _ := h.since(11, true)
		if got := string(c.frames[0].data); got != "id: 12\nevent: deleted\ndata: {\"key\":\"workflows/blog\"}\n\n" {
			t.Errorf("%q", got)
		}
	})
}

// TestEventStreamSendsBuilds: a build record's changes reach the stream
// as "build" events, in one order with the status changes, and the
// queue's writes between them are not streamed.
func TestEventStreamSendsBuilds(t *testing.T) {
	t.Parallel()
	svc := serveEvents(t, StatusAPIConfig{})
	ctx := t.Context()
	if _, err := svc.store.CreateBuild(ctx, "b1", []byte(`{"id":"b1","status":"pending"}`)); err != nil {
		t.Fatal(err)
	}
	ev := openEvents(t, svc.url+"/api/events")
	if e := ev.next(t); e.kind != "build" || e.data != `{"id":"b1","status":"pending"}` {
		t.Fatalf("first event %+v, want the build as it is", e)
	}
	put(t, svc.store, "workflows/shop", `{"name":"shop","health":"Progressing"}`)
	if _, _, err := svc.store.Queue().EnqueueOnce(ctx, "d1", time.Hour, JobBuildPush, "build:x", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	b, err := svc.store.Build(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.store.UpdateBuild(ctx, "b1", []byte(`{"id":"b1","status":"cloning"}`), b.Revision); !ok || err != nil {
		t.Fatalf("UpdateBuild = %t, %v", ok, err)
	}
	var got []string
	for range 2 {
		e := ev.next(t)
		got = append(got, e.kind+" "+e.data)
	}
	want := []string{`workflow {"name":"shop","health":"Progressing"}`, `build {"id":"b1","status":"cloning"}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestStreamWorkflow: a stream of one workflow's record sends what its
// caller makes of that record and each change of it, after the caller's
// first event and with the CORS headers of the response, never another
// record's change; it is held and counted like the streams of
// /api/events, and one beyond the limit is refused.
func TestStreamWorkflow(t *testing.T) {
	t.Parallel()
	svc := serveEvents(t, StatusAPIConfig{Events: EventsConfig{MaxStreams: 1, MaxStreamsPerClient: 1}})
	put(t, svc.store, "workflows/shop", `{"name":"shop","health":"Progressing"}`)
	put(t, svc.store, "workflows/web", `{"name":"web","health":"Healthy"}`)
	app := fiber.New()
	app.Get("/streams/:name", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderAccessControlAllowOrigin, "http://127.0.0.1:3000")
		return svc.api.StreamWorkflow(c, c.Params("name"), "", []byte("event: first\ndata: {}\n\n"), func(rev int64, ws *watch.WorkflowStatus) []byte {
			if ws == nil {
				return fmt.Appendf(nil, "id: %d\nevent: gone\ndata: {}\n\n", rev)
			}
			return fmt.Appendf(nil, "id: %d\nevent: health\ndata: %s %s\n\n", rev, ws.Name, ws.Health)
		})
	})
	url := testutil.ServeApp(t, app)
	ev := openEvents(t, url+"/streams/shop")
	if got := ev.resp.Header.Get(fiber.HeaderAccessControlAllowOrigin); got != "http://127.0.0.1:3000" {
		t.Errorf("Access-Control-Allow-Origin %q, want the one the route set", got)
	}
	expect := func(want ...sseEvent) {
		t.Helper()
		for _, w := range want {
			if got := ev.next(t); got.kind != w.kind || got.data != w.data || (w.kind != "first" && got.id == "") {
				t.Fatalf("event %+v, want %+v with an id", got, w)
			}
		}
	}
	expect(sseEvent{kind: "first", data: "{}"}, sseEvent{kind: "health", data: "shop Progressing"})
	put(t, svc.store, "workflows/web", `{"name":"web","health":"Degraded"}`)
	put(t, svc.store, "workflows/shop", `{"name":"shop","health":"Healthy"}`)
	expect(sseEvent{kind: "health", data: "shop Healthy"})
	if err := svc.store.DeleteStatus(t.Context(), "workflows/shop"); err != nil {
		t.Fatal(err)
	}
	expect(sseEvent{kind: "gone", data: "{}"})
	if n := svc.metric(t, "slipway_event_streams"); n != 1 {
		t.Errorf("slipway_event_streams = %v, want 1", n)
	}
	resp, err := http.Get(url + "/streams/web")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(fiber.HeaderAccessControlAllowOrigin) == "" {
		t.Errorf("a stream beyond the limit: %d %v, want 503 with the CORS headers", resp.StatusCode, resp.Header)
	}
}
