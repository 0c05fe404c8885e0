package faults_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/hookstest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

// webhookSecret signs the deliveries.
const webhookSecret = "faults-webhook-secret-0123456789"

// replica is one cmd/hooks process, killed with SIGKILL and started again
// on the same data directory and address.
type replica struct {
	name, bin, addr, dir string
	env                  []string
	process
	// restarts counts the times the replica exited on its own and was
	// started again.
	restarts int
}

// newReplica prepares a replica under dir that listens on addr and
// reaches etcd at endpoints and the workflows repository at source; start
// runs it.
func newReplica(t *testing.T, name, bin, dir, addr, source string, endpoints []string) *replica {
	t.Helper()
	r := &replica{name: name, bin: bin, addr: addr, dir: filepath.Join(dir, name)}
	r.env = append(os.Environ(),
		"HOOKS_ADDR="+r.addr, "HOOKS_DATA_DIR="+filepath.Join(r.dir, "data"),
		"HOOKS_SOURCE_REPO="+source, "HOOKS_GITHUB_WEBHOOK_SECRET="+webhookSecret,
		"HOOKS_ETCD_ENDPOINTS="+strings.Join(endpoints, ","))
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			b, _ := os.ReadFile(r.logPath())
			t.Logf("%s log (%s), last 4 KB:\n%s", r.name, r.logPath(), b[max(0, len(b)-4096):])
		}
	})
	return r
}

func (r *replica) url() string     { return "http://" + r.addr }
func (r *replica) logPath() string { return filepath.Join(r.dir, "hooks.log") }

// start runs the replica without waiting for it.
func (r *replica) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(r.bin)
	cmd.Env = r.env
	r.run(t, cmd, r.logPath())
}

// revive starts the replica again if it exited on its own, as a
// Deployment's kubelet would, and counts it; a replica the test killed
// stays down.
func (r *replica) revive(t *testing.T) {
	t.Helper()
	if r.cmd != nil && !r.running() {
		r.start(t)
		r.restarts++
	}
}

// waitReady waits until the replica answers /readyz with 200, reviving it
// whenever it exits.
func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, r.name+" to be ready", func() bool {
		r.revive(t)
		code, _ := get(r.url() + "/readyz")
		return code == http.StatusOK
	})
}

// leading reports whether the replica's worker leads, as its metrics say.
func (r *replica) leading() bool {
	code, body := get(r.url() + "/metrics")
	if code != http.StatusOK {
		return false
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if sc.Text() == "slipway_worker_leading 1" {
			return true
		}
	}
	return false
}

// requestTimeout bounds each request of the test: a replica cut off from
// etcd may hold a request for long, which counts as a refusal.
const requestTimeout = 10 * time.Second

// get returns the status and body of a GET, or 0 when it failed.
func get(url string) (int, string) {
	resp, err := (&http.Client{Timeout: requestTimeout}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// pushPayload returns a function that makes GitHub's example push payload
// for a push of sha to main.
func pushPayload(t *testing.T) func(sha string) []byte {
	t.Helper()
	for _, raw := range githubtest.Examples(t, root, "push") {
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if ref, _ := p["ref"].(string); strings.HasPrefix(ref, "refs/heads/") {
			return func(sha string) []byte {
				q := testutil.Apply(t, p, testutil.Set("/ref", "refs/heads/main"), testutil.Set("/after", sha))
				return testutil.Marshal(t, q)
			}
		}
	}
	t.Fatal("no push example pushes a branch")
	return nil
}

// deliver posts a push delivery signed as GitHub signs it and returns the
// reply's status (0 when the request failed) and result.
func deliver(url, id string, body []byte) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	status, result, err := hookstest.Deliver(ctx, url, webhookSecret, "push", id, body)
	if status == 0 {
		return 0, err.Error()
	}
	return status, result
}

// waitBound bounds every wait: generous, since the machine may be busy.
const waitBound = 4 * time.Minute

// waitFor polls cond until it holds, and fails the test after waitBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitBound); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", waitBound, what)
		}
	}
}

// fmtRate formats n of total.
func fmtRate(n, total int) string {
	if total == 0 {
		return "0/0"
	}
	return fmt.Sprintf("%d/%d (%.0f%%)", n, total, 100*float64(n)/float64(total))
}
