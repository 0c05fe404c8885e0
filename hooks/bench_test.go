package hooks

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// BenchmarkDeliveries posts signed push deliveries to the source branch
// from 32 concurrent clients over loopback: each is verified, parsed,
// recorded and queued in one etcd transaction (the embedded server, with
// its fsync), while the queued deploy work piles up. It reports
// deliveries per second and latency percentiles.
func BenchmarkDeliveries(b *testing.B) {
	push, branch := pushExample(b)
	if os.Getenv("BENCH_IGNORED") != "" {
		branch = "elsewhere" // measures HTTP and verification alone
	}
	h := newHarness(b, b.TempDir(), branch)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	sig := sign(push)
	b.SetParallelism(16)
	b.ResetTimer()
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			id := fmt.Sprintf("bench-%d", n.Add(1))
			req, _ := http.NewRequest(http.MethodPost, h.url()+"/hooks/github", bytes.NewReader(push))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", id)
			req.Header.Set("X-Hub-Signature-256", sig)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body) // so that the connection is reused
			resp.Body.Close()
			local = append(local, time.Since(start))
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(began)
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkParse compares decoding a push payload into go-github's event
// type with decoding the few fields the receiver reads.
func BenchmarkParse(b *testing.B) {
	push := pick(b, "push", `"ref":"refs/heads/`)
	b.Run("go-github", func(b *testing.B) {
		b.SetBytes(int64(len(push)))
		for b.Loop() {
			if _, err := github.ParseWebHook("push", push); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fields", func(b *testing.B) {
		b.SetBytes(int64(len(push)))
		for b.Loop() {
			if _, err := parseEvent(push); err != nil {
				b.Fatal(err)
			}
		}
	})
}
