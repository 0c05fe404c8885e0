package hooks

import (
	"bufio"
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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// Load settings: wrk's threads, and how many distinct pushes (commits)
// the deliveries cycle through.
const (
	loadThreads  = 2
	loadDistinct = 2000
)

// BenchmarkLoad measures the real cmd/hooks process under wrk on
// loopback: signed push deliveries to the source branch of a 100-workflow
// repository, each with its own delivery id and one of 2,000 commits, so
// that every delivery is verified, parsed and recorded, raising the
// deploy signal, in the embedded etcd (on the disk of TMPDIR, with its
// fsync) while the leading worker deploys. Each iteration is one wrk
// run; run it with -benchtime 1x (make load). The environment adjusts it:
// LOAD_DURATION (10s), LOAD_CONNECTIONS (16), and for experiments the
// service's LOAD_DEPLOY_INTERVAL (100ms) and LOAD_GOGC (its default).
//
// The slow-clients variant runs the same load while 200 hostile clients
// hold connections at the same time (slowClients): its p99 and peak
// memory, against the honest variant's, are what they cost.
func BenchmarkLoad(b *testing.B) {
	wrk := testutil.Tool(b, "wrk", "apt-get install wrk")
	dir := b.TempDir()
	bin := buildService(b)
	requests := filepath.Join(dir, "requests.txt")
	writeLoadRequests(b, requests, loadDistinct)
	for _, slow := range []int{0, 200} {
		name := "honest"
		if slow > 0 {
			name = fmt.Sprintf("slow-clients-%d", slow)
		}
		b.Run(name, func(b *testing.B) { runLoad(b, wrk, bin, requests, slow) })
	}
}

// runLoad starts the service built at bin and runs wrk against it, with
// slow hostile clients at the same time.
func runLoad(b *testing.B, wrk, bin, requests string, slow int) {
	duration := cmp.Or(os.Getenv("LOAD_DURATION"), "10s")
	connections := cmp.Or(os.Getenv("LOAD_CONNECTIONS"), "16")
	dir := b.TempDir()
	gittest.Git(b, dir, "init", "-q", "-b", "main", "repo")
	head := gittest.Commit(b, dir+"/repo", "Add 100 workflows", sample.Repo(100))

	addr := freeAddr(b)
	logFile, err := os.Create(filepath.Join(dir, "hooks.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	svc := exec.Command(bin)
	svc.Env = append(gittest.Env(), "HOOKS_ADDR="+addr, "HOOKS_SOURCE_REPO="+dir+"/repo",
		"HOOKS_GITHUB_WEBHOOK_SECRET="+secret, "HOOKS_DATA_DIR="+dir+"/data", "HOOKS_DEPLOY_INTERVAL="+cmp.Or(os.Getenv("LOAD_DEPLOY_INTERVAL"), "100ms"))
	if g := os.Getenv("LOAD_GOGC"); g != "" {
		svc.Env = append(svc.Env, "GOGC="+g)
	}
	svc.Stdout, svc.Stderr = logFile, logFile
	if err := svc.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		svc.Process.Signal(syscall.SIGTERM)
		svc.Wait()
	}()
	waitFor(b, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the service to be ready")
	// The first deploy is a cold build; the load meets a warm service.
	postPush(b, addr, "warm-up", head)
	waitFor(b, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ready struct{ Deploy DeployStatus }
		return json.NewDecoder(resp.Body).Decode(&ready) == nil && ready.Deploy.SourceCommit == head
	}, "the first deploy")

	for b.Loop() {
		wrkTime, err := time.ParseDuration(duration)
		if err != nil {
			b.Fatal(err)
		}
		// The hostile clients start first and keep at it for as long as
		// wrk runs.
		ctx, cancel := context.WithTimeout(b.Context(), wrkTime+2*time.Second)
		cut := slowClients(ctx, addr, slow)
		time.Sleep(min(wrkTime/5, 2*time.Second))
		out, err := exec.Command(wrk, "-t", strconv.Itoa(loadThreads), "-c", connections, "-d", duration,
			"--latency", "-s", "testdata/load.lua", "http://"+addr+"/hooks/github", "--", requests).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		b.Logf("wrk:\n%s", out)
		if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindSubmatch(out); m != nil {
			b.Errorf("%s deliveries were not accepted", m[1])
		}
		b.ReportMetric(wrkNumber(b, out, `Requests/sec:\s+([\d.]+)`), "deliveries/s")
		b.ReportMetric(wrkMillis(b, out, `\n\s+50%\s+(\S+)`), "p50-ms")
		b.ReportMetric(wrkMillis(b, out, `\n\s+99%\s+(\S+)`), "p99-ms")
		cancel()
		if slow > 0 {
			b.ReportMetric(float64(cut()), "slow-cut")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(depth(b, addr)), "queued-after")
	b.ReportMetric(peakMB(b, svc.Process.Pid), "peak-MB")
	b.ReportMetric(rssMB(b, svc.Process.Pid), "rss-after-MB")
	b.Logf("%s", grepMetrics(b, addr, "slipway_webhook_deliveries_total", "slipway_http_refused_total", "slipway_deploy_latency_seconds_count"))
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

// writeLoadRequests writes n signed pushes of distinct commits to main,
// one per line: the signature, a tab, the body.
func writeLoadRequests(b *testing.B, path string, n int) {
	push := pushes(b)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		body := push(fmt.Sprintf("%040x", i+1))
		fmt.Fprintf(w, "%s\t%s\n", sign(body), body)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func wrkNumber(b *testing.B, out []byte, pattern string) float64 {
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no %q in wrk's output", pattern)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// wrkMillis reads one of wrk's durations ("812.00us", "7.31ms", "1.02s")
// in milliseconds.
func wrkMillis(b *testing.B, out []byte, pattern string) float64 {
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no %q in wrk's output", pattern)
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		b.Fatal(err)
	}
	return float64(d.Microseconds()) / 1000
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
