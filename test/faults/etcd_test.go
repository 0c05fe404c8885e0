package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBin is the etcd the kube stack runs (make kube-tools).
const etcdBin = root + "/.tools/kube/bin"

// member is one etcd member process: killed with SIGKILL and started
// again on the same data directory and ports.
type member struct {
	name, dir, clientURL, peerURL string
	process
}

// etcdCluster is a cluster of etcd member processes on loopback.
type etcdCluster struct {
	bin     string
	cluster string // --initial-cluster
	members []*member
}

// etcdBinary returns the path of etcd. Without it the test is skipped
// loudly, and fails in CI, which must run it.
func etcdBinary(t *testing.T) string {
	t.Helper()
	bin, _ := filepath.Abs(filepath.Join(etcdBin, "etcd"))
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("SKIPPED LOUDLY: %v: run make kube-tools", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run this test")
		}
		t.Skip(msg)
	}
	return bin
}

// startEtcd starts an n-member etcd cluster of the binary bin under dir,
// on addresses from ports, and waits until every member answers; the
// members are killed when the test ends.
func startEtcd(t *testing.T, bin, dir string, n int, ports *ports) *etcdCluster {
	t.Helper()
	c := &etcdCluster{bin: bin}
	var peers []string
	for i := range n {
		m := &member{name: fmt.Sprintf("m%d", i), dir: filepath.Join(dir, fmt.Sprintf("etcd%d", i)),
			clientURL: "http://" + ports.addr(t), peerURL: "http://" + ports.addr(t)}
		c.members = append(c.members, m)
		peers = append(peers, m.name+"="+m.peerURL)
	}
	c.cluster = strings.Join(peers, ",")
	for i := range c.members {
		c.start(t, i)
	}
	t.Cleanup(func() {
		for i, m := range c.members {
			c.kill(i)
			if t.Failed() {
				b, _ := os.ReadFile(m.dir + ".log")
				t.Logf("etcd member %s log, last 4 KB:\n%s", m.name, b[max(0, len(b)-4096):])
			}
		}
	})
	c.waitHealthy(t)
	return c
}

// start starts member i; on a data directory it has written before, etcd
// rejoins with what the directory holds and ignores the initial flags.
func (c *etcdCluster) start(t *testing.T, i int) {
	t.Helper()
	m := c.members[i]
	m.run(t, exec.Command(c.bin, "--name", m.name, "--data-dir", m.dir,
		"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", c.cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "faults",
		"--log-level", "warn"), m.dir+".log")
}

// kill kills member i with SIGKILL, if it runs, and waits until it is gone.
func (c *etcdCluster) kill(i int) { c.members[i].kill() }

// endpoints are the members' client URLs.
func (c *etcdCluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// status asks every running member for its status; it returns the index
// of the member that leads, or -1 while none does, and whether every
// running member answered.
func (c *etcdCluster) status(ctx context.Context) (leader int, all bool) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return -1, false
	}
	defer cli.Close()
	leader, all = -1, true
	for i, m := range c.members {
		if m.cmd == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := cli.Status(sctx, m.clientURL)
		cancel()
		if err != nil {
			all = false
			continue
		}
		if resp.Leader == resp.Header.MemberId {
			leader = i
		}
	}
	return leader, all
}

// waitHealthy waits until every running member answers and one leads;
// a member that exits fails the test.
func (c *etcdCluster) waitHealthy(t *testing.T) {
	t.Helper()
	waitFor(t, "etcd to elect a leader with every running member answering", func() bool {
		for _, m := range c.members {
			if m.cmd == nil {
				continue
			}
			select {
			case <-m.exited:
				b, _ := os.ReadFile(m.dir + ".log")
				t.Fatalf("etcd member %s exited: %v\n%s", m.name, m.cmd.ProcessState, b[max(0, len(b)-4096):])
			default:
			}
		}
		leader, all := c.status(t.Context())
		return leader >= 0 && all
	})
}

// leader returns the index of the leading member.
func (c *etcdCluster) leader(t *testing.T) int {
	t.Helper()
	var leader int
	waitFor(t, "an etcd leader", func() bool {
		leader, _ = c.status(t.Context())
		return leader >= 0
	})
	return leader
}

// ports hands out distinct free loopback addresses below the kernel's
// range of ephemeral ports, from which every listener on port 0 and every
// outgoing connection of this machine takes its port: a process killed
// here is started again on the same address, which must stay free while
// it is down.
type ports struct {
	next, end int
}

// newPorts starts handing out ports at a random place of the range, so
// that two tests running at once are unlikely to meet.
func newPorts() *ports {
	end := 32768 // Linux's default start of the ephemeral range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &end)
	}
	const from = 10000
	return &ports{next: from + rand.IntN(max(end-from-1000, 1)), end: end}
}

// addr returns the next free address.
func (p *ports) addr(t *testing.T) string {
	t.Helper()
	for ; p.next < p.end; p.next++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.next))
		if err == nil {
			ln.Close()
			p.next++
			return ln.Addr().String()
		}
	}
	t.Fatalf("no free loopback port below %d", p.end)
	return ""
}
