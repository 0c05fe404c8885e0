package hooks

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// BenchmarkLoadEvents measures the real cmd/hooks process on loopback
// while hostile clients hold its event streams: LOAD_EVENT_STREAMS
// (20,000) connections ask for /api/events, each reading only its status
// line and then nothing, 16 from each of many loopback addresses. The
// service holds its limit of them (HOOKS_EVENTS_MAX_STREAMS: its default,
// or LOAD_EVENTS_MAX_STREAMS, lowered to fit this process's open-file
// limit) and refuses the rest. While they are held it measures:
//
//   - healthz-p50-ms, healthz-p99-ms, healthz-max-ms: 200 GET /healthz
//     one after another;
//   - delivery-p50-ms, delivery-p99-ms, delivery-max-ms: 200 signed push
//     deliveries one after another;
//   - that a client that reads still gets a new workflow's record, which
//     every held stream is sent too;
//   - rss-base-MB before the streams, rss-held-MB with them, peak-MB, and
//     bytes/stream, the difference over the streams held; rss-after-MB
//     once they are gone;
//   - status-leader-changes: how often the replica campaigned again for
//     the status election after it first led (0: it kept its lease).
//
// Run it with -benchtime 1x (make load).
func BenchmarkLoadEvents(b *testing.B) {
	bin := buildService(b)
	attempts := envInt(b, "LOAD_EVENT_STREAMS", 20000)
	streams := envInt(b, "LOAD_EVENTS_MAX_STREAMS", DefaultMaxStreams)
	// Both processes hold every stream, and a few more files each.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if fit := int(lim.Cur) - 200; streams > fit {
		b.Logf("%d streams would not fit %d open files: %d", streams, lim.Cur, fit)
		streams = fit
	}
	if streams < 1 {
		b.Skipf("%d open files leave no room for streams", lim.Cur)
	}
	const perAddress = 16
	svc := startLoadService(b, bin, fmt.Sprintf("HOOKS_EVENTS_MAX_STREAMS=%d", streams),
		fmt.Sprintf("HOOKS_EVENTS_MAX_STREAMS_PER_CLIENT=%d", min(DefaultMaxStreamsPerClient, streams)))
	waitFor(b, func() bool { return strings.Count(bodyOrEmpty(b, svc.addr, "/api/status"), `"name":"w0`) == 100 }, "the status records")
	requests := loadRequests(b, 400)
	for b.Loop() {
		base := rssMB(b, svc.cmd.Process.Pid)
		// A client that reads, from an address of its own, then the others.
		reader := openEvents(b, "http://"+svc.addr+"/api/events")
		held, refused := holdStreams(b, svc.addr, attempts, perAddress)
		b.Cleanup(func() { closeAll(held) })
		if len(held) != streams-1 {
			b.Errorf("%d streams held beside the reading one, want %d (%d refused)", len(held), streams-1, refused)
		}
		healthz := timeRequests(b, 200, func(int) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, "http://"+svc.addr+"/healthz", nil)
		})
		deliveries := timeRequests(b, 200, func(i int) (*http.Request, error) {
			r := requests[i]
			req, err := http.NewRequest(http.MethodPost, "http://"+svc.addr+"/hooks/github", strings.NewReader(string(r.body)))
			if err == nil {
				req.Header = http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {"push"},
					"X-Github-Delivery": {fmt.Sprintf("events-load-%d-%d", time.Now().UnixNano(), i)}, "X-Hub-Signature-256": {r.signature}}
			}
			return req, err
		})
		// A new workflow: its record goes to every stream.
		head := gittest.Commit(b, svc.dir+"/repo", "Add w100", map[string][]byte{"workflows/w100.json": sample.Workflow(100, 1)})
		postPush(b, svc.addr, "events-load-new", head)
		for {
			if e := reader.next(b); e.kind == "workflow" && strings.Contains(e.data, `"name":"w100"`) {
				break
			}
		}
		rss, peak := rssMB(b, svc.cmd.Process.Pid), peakMB(b, svc.cmd.Process.Pid)
		b.ReportMetric(float64(len(held)), "streams-held")
		b.ReportMetric(float64(refused), "streams-refused")
		b.ReportMetric(healthz.quantile(0.5), "healthz-p50-ms")
		b.ReportMetric(healthz.quantile(0.99), "healthz-p99-ms")
		b.ReportMetric(healthz.quantile(1), "healthz-max-ms")
		b.ReportMetric(deliveries.quantile(0.5), "delivery-p50-ms")
		b.ReportMetric(deliveries.quantile(0.99), "delivery-p99-ms")
		b.ReportMetric(deliveries.quantile(1), "delivery-max-ms")
		b.ReportMetric(base, "rss-base-MB")
		b.ReportMetric(rss, "rss-held-MB")
		b.ReportMetric(peak, "peak-MB")
		b.ReportMetric((rss-base)*(1<<20)/float64(max(len(held), 1)), "bytes/stream")
		closeAll(held)
		waitFor(b, func() bool {
			return strings.Contains(bodyOrEmpty(b, svc.addr, "/metrics"), "\nslipway_event_streams 1\n")
		}, "the service to notice the streams ended")
		b.ReportMetric(rssMB(b, svc.cmd.Process.Pid), "rss-after-MB")
		log, err := os.ReadFile(svc.logPath)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(strings.Count(string(log), `"msg":"leading the status watches"`)-1), "status-leader-changes")
		b.Logf("%d streams held (%d refused): /healthz p50 %.2f ms, p99 %.2f ms, max %.2f ms; deliveries p50 %.2f ms, p99 %.2f ms, max %.2f ms; RSS %.0f MB before, %.0f MB held (%.0f bytes/stream), peak %.0f MB",
			len(held), refused, healthz.quantile(0.5), healthz.quantile(0.99), healthz.quantile(1),
			deliveries.quantile(0.5), deliveries.quantile(0.99), deliveries.quantile(1), base, rss, (rss-base)*(1<<20)/float64(max(len(held), 1)), peak)
	}
}

// holdStreams opens n streams to addr, perAddress from each loopback
// address of 127.1.0.0/16, and returns the connections of those the
// service held, which are never read beyond their status line, and the
// number it refused.
func holdStreams(b *testing.B, addr string, n, perAddress int) ([]net.Conn, int) {
	var (
		mu      sync.Mutex
		held    []net.Conn
		refused atomic.Int64
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				a := i / perAddress
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(a/250), byte(a%250+1))}, Timeout: 10 * time.Second}
				conn, err := d.DialContext(b.Context(), "tcp", addr)
				if err != nil {
					b.Errorf("stream %d: %v", i, err)
					return
				}
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				status := ""
				if _, err = fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err == nil {
					status, err = bufio.NewReaderSize(conn, 64).ReadString('\n')
				}
				conn.SetDeadline(time.Time{})
				switch {
				case err != nil:
					conn.Close()
					b.Errorf("stream %d: %v", i, err)
					return
				case strings.Contains(status, " 200 "):
					mu.Lock()
					held = append(held, conn)
					mu.Unlock()
				default:
					conn.Close()
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return held, int(refused.Load())
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// timedRequests are the latencies of requests sent one after another,
// sorted.
type timedRequests []time.Duration

// quantile returns the q-quantile in milliseconds.
func (d timedRequests) quantile(q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	return float64(d[rank(q, len(d))].Microseconds()) / 1000
}

// timeRequests sends n requests made by req one after another on one
// kept-alive connection and fails the benchmark on an answer that is not
// 2xx.
func timeRequests(b *testing.B, n int, req func(i int) (*http.Request, error)) timedRequests {
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	var out timedRequests
	for i := range n {
		r, err := req(i)
		if err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		resp, err := http.DefaultClient.Do(r.WithContext(ctx))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		out = append(out, time.Since(began))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			b.Errorf("%s %s: %d", r.Method, r.URL.Path, resp.StatusCode)
		}
	}
	slices.Sort(out)
	return out
}

// bodyOrEmpty returns the body of GET path, or "" when it fails, for a
// condition polled until it holds.
func bodyOrEmpty(b *testing.B, addr, path string) string {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	return sb.String()
}
