package hooks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// Load settings: how many distinct pushes (commits) the deliveries cycle
// through.
const loadDistinct = 2000

// BenchmarkLoad measures the real cmd/hooks process on loopback under
// signed push deliveries to the source branch of a 100-workflow
// repository, each with its own delivery id and one of 2,000 commits, so
// that every delivery is verified, parsed and recorded, raising the
// deploy signal, in the embedded etcd (on the disk of TMPDIR, with its
// fsync) while the leading worker deploys. Each iteration is two vegeta
// attacks; run it with -benchtime 1x (make load):
//
//   - at a fixed rate: LOAD_RATE (1000) deliveries a second whatever the
//     answers, as GitHub sends them (an open loop, so that a slow answer
//     delays no later delivery's clock); p50-ms, p99-ms and max-ms are its
//     latencies, each from when vegeta sent it on that schedule;
//   - at capacity: LOAD_CONNECTIONS (16) clients, each sending its next
//     delivery when the last is answered; deliveries/s is the throughput,
//     and capacity-p99-ms the latency of that closed loop, which is its
//     concurrency over its throughput (Little's law) and says how long a
//     queue 16 clients keep, not how long a delivery waits.
//
// The environment adjusts it: LOAD_DURATION (10s) for each attack, and for
// experiments the service's LOAD_DEPLOY_INTERVAL (100ms) and LOAD_GOGC
// (its default).
//
// The slow-clients variant runs the same load while 200 hostile clients
// hold connections at the same time (slowClients): its p99 and peak
// memory, against the honest variant's, are what they cost.
func BenchmarkLoad(b *testing.B) {
	bin := buildService(b)
	requests := loadRequests(b, loadDistinct)
	for _, slow := range []int{0, 200} {
		name := "honest"
		if slow > 0 {
			name = fmt.Sprintf("slow-clients-%d", slow)
		}
		b.Run(name, func(b *testing.B) { runLoad(b, bin, requests, slow) })
	}
}

// runLoad starts the service built at bin and attacks it with requests,
// with slow hostile clients at the same time.
func runLoad(b *testing.B, bin string, requests []signedBody, slow int) {
	duration, err := time.ParseDuration(cmp.Or(os.Getenv("LOAD_DURATION"), "10s"))
	if err != nil {
		b.Fatalf("LOAD_DURATION: %v", err)
	}
	connections := envInt(b, "LOAD_CONNECTIONS", 16)
	rate := envInt(b, "LOAD_RATE", 1000)
	env := []string{"HOOKS_DEPLOY_INTERVAL=" + cmp.Or(os.Getenv("LOAD_DEPLOY_INTERVAL"), "100ms")}
	if g := os.Getenv("LOAD_GOGC"); g != "" {
		env = append(env, "GOGC="+g)
	}
	svc := startLoadService(b, bin, env...)
	addr := svc.addr

	target := deliveries(requests, "http://"+addr+"/hooks/github", fmt.Sprintf("load-%d", time.Now().UnixNano()))
	for b.Loop() {
		// The hostile clients start first and keep at it for as long as
		// the attacks run.
		ctx, cancel := context.WithCancel(b.Context())
		cut := slowClients(ctx, addr, slow)
		time.Sleep(min(duration/5, 2*time.Second))
		// The fixed rate goes first, so that it meets the service as a
		// steady stream of deliveries would, not in the wake of the burst
		// at capacity.
		fixed := attack(b, target, vegeta.Rate{Freq: rate, Per: time.Second}, duration)
		capacity := attack(b, target, vegeta.Rate{}, duration,
			vegeta.Workers(uint64(connections)), vegeta.MaxWorkers(uint64(connections)), vegeta.Connections(connections))
		cancel()
		b.ReportMetric(capacity.throughput, "deliveries/s")
		b.ReportMetric(capacity.quantile(0.99), "capacity-p99-ms")
		b.ReportMetric(fixed.quantile(0.50), "p50-ms")
		b.ReportMetric(fixed.quantile(0.99), "p99-ms")
		b.ReportMetric(fixed.quantile(1), "max-ms")
		b.ReportMetric(fixed.serverQuantile(0.99), "server-p99-ms")
		b.Logf("at %d/s: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (server: p50 %.2f ms, p99 %.2f ms, max %.2f ms); at capacity (%d clients): %.0f deliveries/s, p50 %.2f ms, p99 %.2f ms",
			rate, fixed.quantile(0.5), fixed.quantile(0.9), fixed.quantile(0.99), fixed.quantile(0.999), fixed.quantile(1),
			fixed.serverQuantile(0.5), fixed.serverQuantile(0.99), fixed.serverQuantile(1),
			connections, capacity.throughput, capacity.quantile(0.5), capacity.quantile(0.99))
		if slow > 0 {
			b.ReportMetric(float64(cut()), "slow-cut")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(depth(b, addr)), "queued-after")
	b.ReportMetric(peakMB(b, svc.cmd.Process.Pid), "peak-MB")
	b.ReportMetric(rssMB(b, svc.cmd.Process.Pid), "rss-after-MB")
	b.Logf("%s", grepMetrics(b, addr, "slipway_webhook_deliveries_total", "slipway_http_refused_total", "slipway_deploy_latency_seconds_count"))
}

// loadService is the built cmd/hooks on loopback, serving a repository
// of 100 workflows whose first deploy (a cold build) is done.
type loadService struct {
	addr string
	cmd  *exec.Cmd
	// logPath is where its log goes.
	logPath string
	dir     string
}

// startLoadService starts the service built at bin with env added to its
// environment, its etcd on the disk of TMPDIR, and stops it at the end of
// the benchmark.
func startLoadService(b *testing.B, bin string, env ...string) *loadService {
	dir := b.TempDir()
	gittest.Git(b, dir, "init", "-q", "-b", "main", "repo")
	head := gittest.Commit(b, dir+"/repo", "Add 100 workflows", sample.Repo(100))
	s := &loadService{addr: freeAddr(b), logPath: filepath.Join(dir, "hooks.log"), dir: dir}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(append(gittest.Env(), "HOOKS_ADDR="+s.addr, "HOOKS_SOURCE_REPO="+dir+"/repo",
		"HOOKS_GITHUB_WEBHOOK_SECRET="+secret, "HOOKS_DATA_DIR="+dir+"/data"), env...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	})
	waitFor(b, func() bool {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the service to be ready")
	// The first deploy is a cold build; the load meets a warm service.
	postPush(b, s.addr, "warm-up", head)
	waitFor(b, func() bool {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ready struct{ Deploy DeployStatus }
		return json.NewDecoder(resp.Body).Decode(&ready) == nil && ready.Deploy.SourceCommit == head
	}, "the first deploy")
	return s
}

// signedBody is a delivery's body and its X-Hub-Signature-256.
type signedBody struct {
	signature string
	body      []byte
}

// loadRequests signs n pushes of distinct commits to main.
func loadRequests(b *testing.B, n int) []signedBody {
	push := pushes(b)
	out := make([]signedBody, n)
	for i := range out {
		body := push(fmt.Sprintf("%040x", i+1))
		out[i] = signedBody{signature: sign(body), body: body}
	}
	return out
}

// deliveries cycles through requests as push deliveries to url, each
// with a delivery id of its own that starts with prefix.
func deliveries(requests []signedBody, url, prefix string) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1)
		r := requests[i%uint64(len(requests))]
		*t = vegeta.Target{Method: http.MethodPost, URL: url, Body: r.body, Header: http.Header{
			"Content-Type":        {"application/json"},
			"X-Github-Event":      {"push"},
			"X-Github-Delivery":   {fmt.Sprintf("%s-%d", prefix, i)},
			"X-Hub-Signature-256": {r.signature},
		}}
		return nil
	}
}

// attackResult is what one attack measured: its successful deliveries a
// second, the latency of every delivery as the client saw it and the
// service's own time for it (its Server-Timing), each sorted.
type attackResult struct {
	throughput float64
	latencies  []time.Duration
	server     []float64 // milliseconds
}

// quantile returns the q-quantile of the latencies in milliseconds.
func (r attackResult) quantile(q float64) float64 {
	if len(r.latencies) == 0 {
		return 0
	}
	return float64(r.latencies[rank(q, len(r.latencies))].Microseconds()) / 1000
}

// serverQuantile returns the q-quantile of the service's own times in
// milliseconds.
func (r attackResult) serverQuantile(q float64) float64 {
	if len(r.server) == 0 {
		return 0
	}
	return r.server[rank(q, len(r.server))]
}

// rank is the index of the q-quantile in n sorted values.
func rank(q float64, n int) int { return min(int(q*float64(n)), n-1) }

// serverMillis reads the milliseconds of a Server-Timing header
// ("app;dur=1.234").
func serverMillis(header string) (float64, error) {
	dur, ok := strings.CutPrefix(header, "app;dur=")
	if !ok {
		return 0, fmt.Errorf("Server-Timing %q, want app;dur=<milliseconds>", header)
	}
	return strconv.ParseFloat(dur, 64)
}

// attack runs one vegeta attack at rate (zero: as fast as its workers
// are answered) for d and fails the benchmark if any delivery is not
// accepted.
func attack(b *testing.B, target vegeta.Targeter, rate vegeta.Rate, d time.Duration, opts ...func(*vegeta.Attacker)) attackResult {
	attacker := vegeta.NewAttacker(append([]func(*vegeta.Attacker){vegeta.Timeout(10 * time.Second), vegeta.KeepAlive(true)}, opts...)...)
	var r attackResult
	var first, last time.Time
	failed := map[string]int{}
	for res := range attacker.Attack(target, rate, d, "") {
		if res.Code < 200 || res.Code > 299 {
			failed[cmp.Or(res.Error, strconv.Itoa(int(res.Code)))]++
			continue
		}
		server, err := serverMillis(res.Headers.Get("Server-Timing"))
		if err != nil {
			b.Fatal(err)
		}
		r.server = append(r.server, server)
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.End(); end.After(last) {
			last = end
		}
		r.latencies = append(r.latencies, res.Latency)
	}
	if len(failed) > 0 {
		b.Errorf("deliveries not accepted, by answer: %v", failed)
	}
	slices.Sort(r.latencies)
	slices.Sort(r.server)
	if span := last.Sub(first); span > 0 {
		r.throughput = float64(len(r.latencies)) / span.Seconds()
	}
	return r
}

// envInt reads a positive integer from the environment variable name,
// or returns def when it is unset.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// slowClients runs n hostile clients until ctx ends, each reconnecting a
// second after the server cuts it off, and returns a function that waits
// for them and says how many of their connections the server closed.
// Ten send most of the largest body at once and stall; of the others,
// half send a request's head a byte a second, and half announce the
// largest body and send it a byte a second.
func slowClients(ctx context.Context, addr string, n int) (cut func() int) {
	const stallers = 10
	var wg sync.WaitGroup
	var closed atomic.Int64
	body := bytes.Repeat([]byte(" "), MaxWebhookBody-1<<20) // most of the largest
	for i := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				kind := i % 2
				if i < stallers {
					kind = 2
				}
				if slowClient(ctx, addr, kind, fmt.Sprintf("slow-%d", i), body) {
					closed.Add(1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	return func() int {
		wg.Wait()
		return int(closed.Load())
	}
}

// slowClient is one connection of a hostile client of the given kind; it
// reports whether the server closed it before ctx ended.
func slowClient(ctx context.Context, addr string, kind int, delivery string, body []byte) bool {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	serverClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(serverClosed)
	}()
	head := rawRequest(delivery, MaxWebhookBody)
	// trickle sends n bytes, the i-th at(i), one a second.
	trickle := func(n int, at func(i int) byte) bool {
		for i := range n {
			if _, err := conn.Write([]byte{at(i)}); err != nil {
				return false
			}
			select {
			case <-serverClosed:
				return false
			case <-ctx.Done():
				return false
			case <-time.After(time.Second):
			}
		}
		return true
	}
	switch kind {
	case 0:
		trickle(len(head), func(i int) byte { return head[i] })
	case 1:
		if _, err := io.WriteString(conn, head); err == nil {
			trickle(MaxWebhookBody, func(int) byte { return ' ' })
		}
	default:
		if _, err := io.WriteString(conn, head); err == nil {
			conn.Write(body)
		}
	}
	select {
	case <-serverClosed:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// rssMB reads a process's resident memory now (Linux).
func rssMB(b *testing.B, pid int) float64 {
	return procStatusMB(b, pid, "VmRSS:")
}

// peakMB reads a process's peak resident memory (Linux).
func peakMB(b *testing.B, pid int) float64 {
	return procStatusMB(b, pid, "VmHWM:")
}

// procStatusMB reads one of a process's memory figures from
// /proc/PID/status, in MB.
func procStatusMB(b *testing.B, pid int, field string) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("no %s: %v", field, err)
		return 0
	}
	var kb float64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
		}
	}
	return kb / 1024
}

// grepMetrics returns the service's metric lines with the given names.
func grepMetrics(b *testing.B, addr string, names ...string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var keep []string
	for _, line := range strings.Split(string(body), "\n") {
		for _, n := range names {
			if strings.HasPrefix(line, n) {
				keep = append(keep, line)
			}
		}
	}
	return strings.Join(keep, "\n")
}
