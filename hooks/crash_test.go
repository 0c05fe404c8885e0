package hooks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/store"
)

// TestHelperService is not a test: TestKillDuringDeploy runs the test
// binary with SLIPWAY_HOOKS_HELPER set to have a service process it can
// kill with SIGKILL.
func TestHelperService(t *testing.T) {
	dir := os.Getenv("SLIPWAY_HOOKS_HELPER")
	if dir == "" {
		t.Skip("helper process for TestKillDuringDeploy")
	}
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{DataDir: dir + "/data"})
	if err != nil {
		t.Fatal(err)
	}
	_, d := newDeployer(t, dir+"/repo")
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	m := NewMetrics(func() float64 {
		n, _ := s.Depth(ctx)
		return float64(n)
	})
	app := NewApp(NewReceiver(secret, s, "main", log, m), m)
	go NewWorker(s, d, fmt.Sprintf("pid-%d", os.Getpid()), log).Run(ctx)
	app.Listen(os.Getenv("SLIPWAY_HOOKS_ADDR"))
}

// TestKillDuringDeploy kills the service with SIGKILL while it deploys,
// starts it again, and checks that the job completes once: one deploy
// commit, nothing lost, nothing queued.
func TestKillDuringDeploy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gittest.Git(t, dir, "init", "-q", "-b", "main", "repo")
	sha := gittest.Commit(t, dir+"/repo", "Add 300 workflows", sample.Repo(300))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperService$")
		cmd.Env = append(gittest.Env(), "SLIPWAY_HOOKS_HELPER="+dir, "SLIPWAY_HOOKS_ADDR="+addr)
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd, out
			}
		}
		t.Fatalf("the service did not start:\n%s", out)
		return nil, nil
	}
	first, log1 := start()
	push := pick(t, "push", `"ref":"refs/heads/`)
	var p map[string]any
	json.Unmarshal(push, &p)
	p["ref"], p["after"] = "refs/heads/main", sha
	body, _ := json.Marshal(p)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "crash-1")
	req.Header.Set("X-Hub-Signature-256", sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push: %v %v", err, resp)
	}
	resp.Body.Close()
	time.Sleep(400 * time.Millisecond) // the first deploy of 300 workflows takes longer
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if strings.Contains(log1.String(), `"msg":"deployed"`) {
		t.Log("the deploy finished before the kill; the restart must still not deploy twice")
	}

	second, log2 := start()
	defer func() {
		second.Process.Signal(syscall.SIGTERM)
		second.Wait()
	}()
	// The killed worker's lease expires within 5 s; then the job runs.
	deadline := time.Now().Add(60 * time.Second)
	for depth(t, addr) != 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if d := depth(t, addr); d != 0 {
		t.Fatalf("%d jobs left after the restart:\n%s", d, log2)
	}
	if got := gittest.Git(t, dir+"/repo", "rev-list", "--count", "deploy"); got != "1" {
		t.Errorf("%s deploy commits, want exactly 1", got)
	}
	if got := gittest.Git(t, dir+"/repo", "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"); got != sha {
		t.Errorf("deployed %s, want %s", got, sha)
	}
	gittest.Fsck(t, dir+"/repo")
}

// depth reads the queue depth from the service's metrics.
func depth(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "slipway_queue_depth %d", &n); err == nil {
			return n
		}
	}
	return -1
}
