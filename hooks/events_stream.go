package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-gitops/slipway/watch"
)

// Event streams are written by their own goroutine straight to the
// connection, which the HTTP server hands over: each write has a deadline
// of its own, a stream lasts as long as every write finishes in time, and
// nothing of the server stays allocated for a held stream.
const (
	// streamHead is the head of a stream's response, without the empty
	// line that ends it. The stream ends with the connection.
	streamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
		"X-Accel-Buffering: no\r\nConnection: close\r\n"
	// streamRetry tells the browser to reconnect 2 s after a stream ends.
	streamRetry = "retry: 2000\n\n"
	heartbeat   = ": heartbeat\n\n"
	// streamRetryAfter is the Retry-After, in seconds, of a refused
	// stream: streams of clients that left are noticed at their next
	// heartbeat.
	streamRetryAfter = 15
	// maxWrite bounds one write of a stream, so that a client that reads
	// slowly but steadily keeps its stream.
	maxWrite = 64 << 10
)

// Why the service cut a stream, as the metrics label it.
const (
	cutTimeout = "timeout" // a write did not finish within the write timeout
	cutBehind  = "behind"  // the changes it had yet to send were no longer kept
)

// streamMetrics count the event streams.
type streamMetrics struct {
	open    prometheus.GaugeFunc
	refused *prometheus.CounterVec
	cut     *prometheus.CounterVec
}

func newStreamMetrics(held func() int) streamMetrics {
	return streamMetrics{
		open: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "slipway_event_streams",
			Help: "Event streams (/api/events) held open.",
		}, func() float64 { return float64(held()) }),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_event_streams_refused_total",
			Help: "Event streams refused with 503, by the limit reached (total, client).",
		}, []string{"reason"}),
		cut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_event_streams_cut_total",
			Help: "Event streams the service cut off, by reason (timeout: a write did not finish in time; behind: the changes it had yet to send were no longer kept).",
		}, []string{"reason"}),
	}
}

// Describe implements prometheus.Collector.
func (s *StatusAPI) Describe(ch chan<- *prometheus.Desc) {
	s.metrics.open.Describe(ch)
	s.metrics.refused.Describe(ch)
	s.metrics.cut.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *StatusAPI) Collect(ch chan<- prometheus.Metric) {
	s.metrics.open.Collect(ch)
	s.metrics.refused.Collect(ch)
	s.metrics.cut.Collect(ch)
}

// events streams status changes. Each event's id is the store revision of
// the change: a client resuming with Last-Event-ID (or ?after=) gets every
// change after it; when that history is no longer kept, it gets the
// current record of every workflow and cluster instead, so the latest
// state of a workflow is never lost. Without either, the stream starts
// with the current records.
func (s *StatusAPI) events(c *fiber.Ctx) error {
	after := int64(-1)
	for _, v := range []string{c.Get("Last-Event-ID"), c.Query("after")} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			after = n
			break
		}
	}
	return s.hijack(c, streamOptions{after: after, headOnly: c.Method() == fiber.MethodHead})
}

// StreamWorkflow answers c with a stream of one workflow's status
// record, for clients that want events of their own: first, then what
// events returns for the record (nil once deleted) and for each change of
// it. It is held and bounded as the streams of /api/events are, and
// counted with them, against user (the signed-in user's id), or the
// peer's address when user is empty; the CORS headers set on c's
// response are sent.
func (s *StatusAPI) StreamWorkflow(c *fiber.Ctx, name, user string, first []byte, events func(rev int64, ws *watch.WorkflowStatus) []byte) error {
	key := statusWorkflows + name
	var head []byte
	c.Response().Header.VisitAll(func(k, v []byte) {
		if bytes.HasPrefix(k, []byte("Access-Control-")) || bytes.Equal(k, []byte(fiber.HeaderVary)) {
			head = fmt.Appendf(head, "%s: %s\r\n", k, v)
		}
	})
	return s.hijack(c, streamOptions{after: -1, user: user, head: head, first: first, events: func(f frame) []byte {
		if f.key != key {
			return nil
		}
		if f.value == nil {
			return events(f.rev, nil)
		}
		var ws watch.WorkflowStatus
		if err := json.Unmarshal(f.value, &ws); err != nil {
			return nil // the leader wrote it; a record that does not decode is not news
		}
		return events(f.rev, &ws)
	}})
}

// streamOptions say what a stream sends.
type streamOptions struct {
	// after is the revision the client has every change up to; -1 for
	// none.
	after    int64
	headOnly bool
	// user is the signed-in user the stream is counted against; the
	// peer's address is when it is empty.
	user string
	// head is more lines of the response's head, first what is sent
	// before the changes.
	head, first []byte
	// events, when set, turns a change into what the stream sends (nil:
	// nothing); else the change's frame is sent as is.
	events func(frame) []byte
}

// hijack takes c's connection over for a stream.
func (s *StatusAPI) hijack(c *fiber.Ctx, opts streamOptions) error {
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(conn net.Conn) {
		// The raw connection writes many frames in one system call.
		if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
			conn = u.UnsafeConn()
		}
		s.serveStream(conn, opts)
	})
	return nil
}

// serveStream holds a stream on conn, unless a limit is reached, until
// the client goes away, falls behind or Done.
func (s *StatusAPI) serveStream(conn net.Conn, opts streamOptions) {
	client := streamClient{user: opts.user}
	if client.user == "" {
		client.addr, _, _ = net.SplitHostPort(conn.RemoteAddr().String())
	}
	release, err := s.limits.acquire(client)
	if err != nil {
		var tm *errTooManyStreams
		if errors.As(err, &tm) {
			s.metrics.refused.WithLabelValues(tm.reason).Inc()
		}
		body := mustJSON(map[string]string{"error": err.Error()})
		s.write(conn, fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: %d\r\n"+
			"%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", streamRetryAfter, opts.head, len(body), body))
		return
	}
	defer release()
	head := []byte(streamHead)
	if opts.headOnly {
		s.write(conn, head, opts.head, []byte("\r\n"))
		return
	}
	if !s.write(conn, head, opts.head, []byte("\r\n"+streamRetry), opts.first) {
		return
	}
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	after := opts.after
	for start := true; ; {
		next, err := s.hub.since(after, start)
		if err != nil {
			s.metrics.cut.WithLabelValues(cutBehind).Inc()
			return
		}
		start = start && !next.served
		for frames := next.frames; len(frames) > 0; {
			var bufs [][]byte
			for size := 0; len(frames) > 0 && size < maxWrite; frames = frames[1:] {
				data := frames[0].data
				if opts.events != nil {
					if data = opts.events(frames[0]); len(data) == 0 {
						continue
					}
				}
				bufs = append(bufs, data)
				size += len(data)
			}
			if len(bufs) > 0 && !s.write(conn, bufs...) {
				return
			}
		}
		after = next.upTo
		select {
		case <-s.Done:
			return
		case <-next.wake:
		case <-beat.C:
			if !s.write(conn, []byte(heartbeat)) {
				return
			}
		}
	}
}

// write writes bufs to conn within the write timeout, and reports whether
// it did.
func (s *StatusAPI) write(conn net.Conn, bufs ...[]byte) bool {
	_ = conn.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
	b := net.Buffers(bufs)
	_, err := b.WriteTo(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.metrics.cut.WithLabelValues(cutTimeout).Inc()
	}
	return err == nil
}

// runHub follows the records for the streams until Done.
func (s *StatusAPI) runHub() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.Done
		cancel()
	}()
	go s.hub.run(ctx)
}
