package hooks

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
)

// TestStatusFailover: two replicas share etcd; when the leader stops, the
// other takes over the watches and a page streaming from it sees its
// records.
func TestStatusFailover(t *testing.T) {
	t.Parallel()
	st, base := serveStatus(t, ReadAccess{})
	repo, _ := deploytest.Deploy(t, "../fixtures/e2e", "")
	replica := func(id string, contexts map[string]*rest.Config) (stop func()) {
		pub := must(NewStatusPublisher(StatusPublisherConfig{Store: st, Deploy: repo, DeployBranch: "deploy", Source: repo,
			Contexts: func([]string) (map[string]*rest.Config, error) { return contexts, nil },
			ID:       id, Log: slog.New(slog.DiscardHandler), MinWrite: time.Millisecond, Refresh: 200 * time.Millisecond}))(t)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- pub.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stopA := replica("a", nil)
	waitLeader := func(want string) {
		t.Helper()
		for range 200 {
			if id, _ := st.Leader(t.Context(), "status"); id == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s does not lead", want)
	}
	waitLeader("a")
	// Replica b knows the cluster by a context no server answers on, so
	// its records differ from a's: they say the cluster cannot be read.
	stopB := replica("b", map[string]*rest.Config{"default": {Host: "https://127.0.0.1:1", Timeout: time.Second}})
	defer stopB()
	ev := openEvents(t, base+"/api/events")
	for {
		if e := ev.next(t); e.kind == "cluster" && strings.Contains(e.data, `"watched":false`) {
			break
		}
	}
	began := time.Now()
	stopA()
	for {
		if e := ev.next(t); e.kind == "cluster" && strings.Contains(e.data, `"watched":true`) {
			break
		}
	}
	t.Logf("the other replica's records streamed %s after the leader stopped", time.Since(began).Round(time.Millisecond))
}

// buildService builds cmd/hooks into a temporary directory.
func buildService(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "hooks")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hooks").CombinedOutput(); err != nil {
		tb.Fatalf("build cmd/hooks: %v\n%s", err, out)
	}
	return bin
}

// TestStatusFailoverKill runs two service processes built from cmd/hooks
// on one etcd and kills the status leader with SIGKILL: a page streaming
// from the other replica keeps streaming, and the other replica's records
// arrive on it within the leader's lease.
func TestStatusFailoverKill(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the replicas stop (cleanups run last first): a replica
	// whose etcd is gone does not stop.
	t.Cleanup(func() { st.Close() })
	etcd := st.Endpoints()[0]
	if !strings.Contains(etcd, "://") {
		etcd = "http://" + etcd
	}
	dir := t.TempDir()
	bare := filepath.Join(dir, "e2e.git")
	deploytest.Deploy(t, "../fixtures/e2e", bare)
	// Replica b knows the cluster by a context no server answers on, so
	// its records differ from a's: they say the cluster is unreachable.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: default, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: default, user: {token: none}}]
contexts: [{name: default, context: {cluster: default, user: default}}]
current-context: default
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildService(t)
	start := func(name string, env ...string) (*exec.Cmd, string) {
		addr := freeAddr(t)
		cmd := exec.Command(bin)
		cmd.Env = append(gittest.Env(), append(env, "HOOKS_ADDR="+addr, "HOOKS_SOURCE_REPO="+bare, "HOOKS_ETCD_ENDPOINTS="+etcd,
			"HOOKS_GITHUB_WEBHOOK_SECRET="+secret, "HOOKS_DATA_DIR="+filepath.Join(dir, name), "HOOKS_STATUS_MIN_WRITE=10ms")...)
		out := &testutil.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			stopped := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
			cmd.Wait()
			if !stopped.Stop() {
				t.Errorf("replica %s did not stop within a minute of SIGTERM", name)
			}
			if t.Failed() {
				t.Logf("replica %s:\n%s", name, out)
			}
		})
		waitFor(t, func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}, "replica "+name+" to answer")
		return cmd, addr
	}
	clusterRecord := func() string {
		recs, _, err := st.Statuses(t.Context(), statusClusters)
		if err != nil || len(recs) == 0 {
			return ""
		}
		return string(recs[0].Value)
	}
	a, _ := start("a")
	waitFor(t, func() bool { return strings.Contains(clusterRecord(), `"watched":false`) }, "replica a to lead and publish")
	_, addrB := start("b", "HOOKS_KUBECONFIG="+kubeconfig)
	ev := openEvents(t, "http://"+addrB+"/api/events")
	for {
		if e := ev.next(t); e.kind == "cluster" && strings.Contains(e.data, `"watched":false`) {
			break
		}
	}
	if err := a.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		if e := ev.next(t); e.kind == "cluster" && strings.Contains(e.data, `"watched":true`) {
			break
		}
	}
	took := time.Since(killed)
	t.Logf("replica b's page streamed its own records %s after the leader was killed (lease %s)", took.Round(time.Millisecond), statusLease)
	// The lease runs out within statusLease; campaigning, one round and
	// the stream add a little, more on a loaded machine.
	if took > 2*statusLease {
		t.Errorf("the page streamed the new leader's records %s after the kill, want within %s", took.Round(time.Millisecond), 2*statusLease)
	}
}
