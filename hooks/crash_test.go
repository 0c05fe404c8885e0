package hooks

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
)

// TestHelperService is not a test: TestKillDuringDeploy runs the test
// binary with SLIPWAY_HOOKS_HELPER set to have a service process it can
// kill with SIGKILL. SIGTERM stops it cleanly.
func TestHelperService(t *testing.T) {
	dir := os.Getenv("SLIPWAY_HOOKS_HELPER")
	if dir == "" {
		t.Skip("helper process for TestKillDuringDeploy")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := store.Config{DataDir: dir + "/data"}
	if e := os.Getenv("SLIPWAY_HOOKS_ETCD"); e != "" {
		cfg = store.Config{Endpoints: []string{e}}
	}
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, d := newDeployer(t, dir+"/repo")
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	m := must(NewMetrics(MetricsConfig{Depth: s.Queue().Depth}))(t)
	app := must(NewApp(AppConfig{Receiver: must(NewReceiver(ReceiverConfig{Secret: secret, Queue: s.Queue(), SourceBranch: "main", Log: log, Metrics: m}))(t), Metrics: m}))(t)
	w := must(NewWorker(WorkerConfig{Sessions: s, Queue: s.Queue(), Deployer: d, ID: fmt.Sprintf("pid-%d", os.Getpid()), Log: log, DeployInterval: 100 * time.Millisecond}))(t)
	worked := make(chan error, 1)
	go func() { worked <- w.Run(ctx) }()
	go app.Listen(os.Getenv("SLIPWAY_HOOKS_ADDR"))
	<-ctx.Done()
	app.Shutdown()
	if err := <-worked; err != nil {
		t.Error(err)
	}
	s.Close()
}

// killBound is how soon a restarted service must have converged after a
// kill: the killed session's lease (5 s) runs out, then one deploy of 30
// workflows by a cold compiler (under a second on an idle machine), with
// room for parallel tests under the race detector on a loaded machine.
const killBound = 4 * time.Minute

// TestKillDuringDeploy kills the service with SIGKILL at random points of
// its deploys (at start, and of pushes arriving meanwhile) three times,
// starting it again each time. The last one converges within killBound
// with nothing queued: the deploy branch is compile(source head), its
// history linear with no commit that changes nothing, and git fsck is
// clean. A SIGTERM then stops it without an error in its log.
func TestKillDuringDeploy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	gittest.Git(t, dir, "init", "-q", "-b", "main", "repo")
	gittest.Commit(t, repo, "Add 30 workflows", sample.Repo(30))
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points from seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	addr := freeAddr(t)
	svc, log := startService(t, dir, addr, "")
	for round := range 3 {
		if round > 0 {
			svc, log = startService(t, dir, addr, "")
		}
		sha := gittest.Commit(t, repo, fmt.Sprintf("Scale w020 to %d", round+2), map[string][]byte{"workflows/w020.json": sample.Workflow(20, round+2)})
		postPush(t, addr, fmt.Sprintf("kill-%d", round), sha)
		time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Second))))
		svc.Process.Signal(syscall.SIGKILL)
		svc.Wait()
	}
	want := wantTree(t, repo)
	restarted := time.Now()
	svc, log = startService(t, dir, addr, "")
	stopped := false
	defer func() {
		if !stopped {
			svc.Process.Signal(syscall.SIGKILL)
			svc.Wait()
		}
	}()
	took := waitTree(t, repo, want, restarted, killBound)
	t.Logf("converged %s after the last restart", took.Round(time.Millisecond))
	if d := depth(t, addr); d != 0 {
		t.Errorf("%d jobs left after the restart", d)
	}
	trees := strings.Fields(gittest.Git(t, repo, "log", "--format=%T", "deploy"))
	for i := 1; i < len(trees); i++ {
		if trees[i] == trees[i-1] {
			t.Errorf("deploy commit %d of %d changes nothing", len(trees)-i+1, len(trees))
		}
	}
	for _, line := range strings.Split(gittest.Git(t, repo, "rev-list", "--parents", "deploy"), "\n") {
		if len(strings.Fields(line)) > 2 {
			t.Errorf("deploy history is not linear: %s", line)
		}
	}
	gittest.Fsck(t, repo)
	svc.Process.Signal(syscall.SIGTERM)
	svc.Wait()
	stopped = true
	if strings.Contains(log.String(), `"level":"ERROR"`) {
		t.Errorf("errors in the log of a service that converged and stopped cleanly:\n%s", log)
	}
}

// freeAddr returns a free loopback address.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startService runs the helper service on addr with the repository and
// data under dir (etcd: an external endpoint, or "" for an embedded one)
// and waits until it answers.
func startService(t *testing.T, dir, addr, etcd string) (*exec.Cmd, *testutil.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperService$")
	cmd.Env = append(gittest.Env(), "SLIPWAY_HOOKS_HELPER="+dir, "SLIPWAY_HOOKS_ADDR="+addr, "SLIPWAY_HOOKS_ETCD="+etcd)
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(convergeBound); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd, out
		}
	}
	t.Fatalf("the service did not start:\n%s", out)
	return nil, nil
}

// postPush sends a signed push of commit sha to main.
func postPush(t testing.TB, addr, delivery, sha string) {
	t.Helper()
	body := pushes(t)(sha)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push %s: %v %v", delivery, err, resp)
	}
	resp.Body.Close()
}

// TestTwoReplicas runs two service processes on one etcd: only the leader
// deploys; killed, the other takes over within seconds.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	etcd := s.Endpoints()[0]
	if !strings.Contains(etcd, "://") {
		etcd = "http://" + etcd
	}
	dir := t.TempDir()
	gittest.Git(t, dir, "init", "-q", "-b", "main", "repo")
	sha1 := gittest.Commit(t, dir+"/repo", "Add 10 workflows", sample.Repo(10))
	addrA, addrB := freeAddr(t), freeAddr(t)
	a, logA := startService(t, dir, addrA, etcd)
	time.Sleep(500 * time.Millisecond) // A campaigns first
	b, logB := startService(t, dir, addrB, etcd)
	defer func() {
		b.Process.Signal(syscall.SIGTERM)
		b.Wait()
	}()
	postPush(t, addrB, "r-1", sha1) // any replica accepts; the leader deploys
	waitFor(t, func() bool { return strings.Contains(logA.String(), `"msg":"deployed"`) }, "replica A to deploy")
	if strings.Contains(logB.String(), `"msg":"deployed"`) {
		t.Error("replica B deployed while A led")
	}
	a.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	a.Wait()
	sha2 := gittest.Commit(t, dir+"/repo", "Scale w005", map[string][]byte{"workflows/w005.json": sample.Workflow(5, 7)})
	postPush(t, addrB, "r-2", sha2)
	waitFor(t, func() bool { return strings.Contains(logB.String(), `"msg":"deployed"`) }, "replica B to take over")
	t.Logf("replica B deployed %s after replica A was killed", time.Since(killed).Round(time.Millisecond))
	if got := gittest.Git(t, dir+"/repo", "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy"); got != sha2 {
		t.Errorf("deployed %s, want %s", got, sha2)
	}
	if got := gittest.Git(t, dir+"/repo", "rev-list", "--count", "deploy"); got != "2" {
		t.Errorf("%s deploy commits, want 2", got)
	}
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(convergeBound); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// depth reads the queue depth from the service's metrics.
func depth(t testing.TB, addr string) int {
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
