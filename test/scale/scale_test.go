package scale_test

import (
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkScale measures the live status of 100 generated workflows of
// 51 objects each (5,100 watched objects, 500 pods on the kwok node),
// applied through Flux from the deploy branch that the real cmd/hooks
// process writes, and watched by it through HOOKS_KUBECONFIG (make
// scale-bench; SCALE_WORKFLOWS sets another number of workflows):
//
//   - memory/synced: the service's peak resident memory (VmHWM) since its
//     start and its resident memory (VmRSS) 10 s after every workflow was
//     seen live and healthy; memory/after-load the same at the end;
//   - api-status and overview-page: GET /api/status and GET / on loopback
//     with keep-alive, each request's server time (its Server-Timing
//     header: the handlers' work, store reads included) and its time at
//     the client, p50 and p99;
//   - change-to-event: an Ingress's address taken away or given back
//     through the API server's status subresource, round robin over the
//     workflows, until the status stream (/api/events) carries the
//     workflow's record with that Ingress's new health: p50 and p99 from
//     the request to the API server to the event read by the client.
//     Changes to one workflow are HOOKS_STATUS_MIN_WRITE apart or more,
//     so the rate limit holds none back.
//
// Setup takes minutes; run it with a fixed count (-benchtime 300x).
func BenchmarkScale(b *testing.B) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("SCALE_WORKFLOWS")); err == nil && v > 0 {
		n = v
	}
	f := startFleet(b, n, 30*time.Minute)
	b.Run("memory/synced", func(b *testing.B) {
		time.Sleep(10 * time.Second)
		f.reportMemory(b)
	})
	b.Run("api-status", func(b *testing.B) { f.measureGet(b, "/api/status") })
	b.Run("overview-page", func(b *testing.B) { f.measureGet(b, "/") })
	b.Run("change-to-event", func(b *testing.B) {
		t := f.toggler(b)
		var took []time.Duration
		for b.Loop() {
			took = append(took, t.toggle(b))
		}
		reportPercentiles(b, "", took)
	})
	b.Run("memory/after-load", f.reportMemory)
}

// TestScale runs the benchmark's path at a small scale: 4 workflows, 204
// objects, every one seen; both pages answer with their server time; and
// each workflow's Ingress change arrives on the status stream.
func TestScale(t *testing.T) {
	const n = 4
	f := startFleet(t, n, 5*time.Minute)
	for _, path := range []string{"/api/status", "/"} {
		resp, body := f.fetch(t, path)
		if !strings.HasPrefix(resp.Header.Get("Server-Timing"), "app;dur=") {
			t.Errorf("GET %s: Server-Timing %q", path, resp.Header.Get("Server-Timing"))
		}
		if !strings.Contains(string(body), workflowName(n-1)) {
			t.Errorf("GET %s does not show %s", path, workflowName(n-1))
		}
	}
	tg := f.toggler(t)
	for range n {
		took := tg.toggle(t)
		t.Logf("Ingress change → event in %s", took.Round(time.Millisecond))
	}
	peak, rss := f.memory(t)
	t.Logf("hooks: peak %d MB, now %d MB resident", peak>>20, rss>>20)
}

// reportMemory reports the service's peak and current resident memory,
// and the heap its last garbage collection found live.
func (f *fleet) reportMemory(b *testing.B) {
	var peak, rss int64
	for b.Loop() {
		peak, rss = f.memory(b)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
	b.ReportMetric(float64(f.hooks.liveHeap(b))/(1<<20), "heap-MB")
	b.ReportMetric(float64(f.objects), "objects")
	b.ReportMetric(f.synced.Seconds(), "sync-s")
}

// measureGet requests path again and again and reports the server time
// and the client's time, p50 and p99.
func (f *fleet) measureGet(b *testing.B, path string) {
	var client, server []time.Duration
	var size int
	for b.Loop() {
		began := time.Now()
		resp, body := f.fetch(b, path)
		client = append(client, time.Since(began))
		server = append(server, serverTime(b, resp.Header.Get("Server-Timing")))
		size = len(body)
	}
	reportPercentiles(b, "server-", server)
	reportPercentiles(b, "", client)
	b.ReportMetric(float64(size)/1024, "KiB")
}

// fetch GETs path and reads its body; anything but 200 fails.
func (f *fleet) fetch(tb testing.TB, path string) (*http.Response, []byte) {
	tb.Helper()
	resp, err := f.hooks.client.Get(f.hooks.url + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return resp, body
}

// serverTime reads the duration of a Server-Timing header "app;dur=<ms>".
func serverTime(tb testing.TB, header string) time.Duration {
	ms, err := strconv.ParseFloat(strings.TrimPrefix(header, "app;dur="), 64)
	if err != nil {
		tb.Fatalf("Server-Timing %q: %v", header, err)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// reportPercentiles reports p50 and p99 of durations in milliseconds,
// nearest rank.
func reportPercentiles(b *testing.B, prefix string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	for _, p := range []int{50, 99} {
		i := max((len(d)*p+99)/100, 1) - 1
		b.ReportMetric(float64(d[i])/float64(time.Millisecond), prefix+"p"+strconv.Itoa(p)+"-ms")
	}
}
