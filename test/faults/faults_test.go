// Package faults_test loses one machine at a time under a stream of push
// deliveries: three cmd/hooks replicas as processes on a three-member
// etcd of processes, each replica reaching etcd through a TCP proxy of
// the test, and the workflows repository on a smart-HTTP git server. In
// each scenario no delivery acknowledged with 2xx is lost, no source
// commit is deployed twice, the status API keeps answering 200 from a
// surviving replica and the deploy branch converges; the test logs how
// long the failover took and how many deliveries were refused meanwhile.
package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/hookstest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// root is the checkout's root.
const root = "../.."

const (
	// workflows is how many workflows the repository holds.
	workflows = 10
	// pushEvery is the pause between two pushes, each with its delivery.
	pushEvery = 200 * time.Millisecond
	// sampleEvery is the pause between two samples of the status API.
	sampleEvery = 200 * time.Millisecond
	// faultHeld is how long a fault lasts after the first deploy that
	// follows it.
	faultHeld = 3 * time.Second
)

// binaries are the programs a cluster runs.
type binaries struct {
	etcd, hooks string
}

// cluster is one scenario's parts.
type cluster struct {
	etcd     *etcdCluster
	replicas []*replica
	// proxies[i][j] carries replica i's traffic to etcd member j.
	proxies [][]*proxy
	// work is a clone of the source repository that pushes to bare.
	work, bare string
	payload    func(sha string) []byte
}

// newCluster starts etcd, the git server and three replicas, and waits
// until the deploy branch holds the first source commit.
func newCluster(t *testing.T, bins binaries) *cluster {
	t.Helper()
	dir := t.TempDir()
	ports := newPorts()
	c := &cluster{etcd: startEtcd(t, bins.etcd, dir, 3, ports), payload: pushPayload(t)}
	gitRoot := filepath.Join(dir, "git")
	if err := os.Mkdir(gitRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	c.bare = filepath.Join(gitRoot, "workflows.git")
	gittest.InitBare(t, c.bare)
	c.work = gittest.Init(t)
	first := gittest.Commit(t, c.work, "Add workflows", sample.Repo(workflows))
	gittest.Git(t, c.work, "push", "-q", c.bare, "main")
	source := gittest.Serve(t, gitRoot).URL + "/workflows.git"
	for i := range 3 {
		var eps []string
		var ps []*proxy
		for _, m := range c.etcd.members {
			u, err := url.Parse(m.clientURL)
			if err != nil {
				t.Fatal(err)
			}
			p := startProxy(t, u.Host)
			ps = append(ps, p)
			eps = append(eps, "http://"+p.addr())
		}
		c.proxies = append(c.proxies, ps)
		c.replicas = append(c.replicas, newReplica(t, fmt.Sprintf("r%d", i), bins.hooks, dir, ports.addr(t), source, eps))
	}
	for _, r := range c.replicas {
		r.start(t)
	}
	for _, r := range c.replicas {
		r.waitReady(t)
		if r.restarts > 0 {
			t.Errorf("%s exited %d times before it was ready", r.name, r.restarts)
		}
	}
	waitFor(t, "the first deploy", func() bool { return c.deployed(t.Context()) == first })
	return c
}

// deployed is the source commit the deploy branch's head names, or "".
func (c *cluster) deployed(ctx context.Context) string {
	out, err := gittest.GitE(ctx, c.bare, "log", "-1", "--format=%(trailers:key=Source-Commit,valueonly)", "deploy")
	if err != nil {
		return ""
	}
	return out
}

// deployedAfter reports whether the deploy branch holds a commit pushed
// after since, reviving any replica that exited meanwhile.
func (c *cluster) deployedAfter(t *testing.T, tr *traffic, since time.Time) bool {
	for _, r := range c.replicas {
		r.revive(t)
	}
	return tr.pushedAfter(c.deployed(t.Context()), since)
}

// restarts counts the replicas' restarts after they exited on their own.
func (c *cluster) restarts() int {
	n := 0
	for _, r := range c.replicas {
		n += r.restarts
	}
	return n
}

// leader waits until exactly one replica leads and returns it.
func (c *cluster) leader(t *testing.T) int {
	t.Helper()
	leader := -1
	waitFor(t, "one leading replica", func() bool {
		leader = -1
		for i, r := range c.replicas {
			if r.leading() {
				if leader >= 0 {
					return false
				}
				leader = i
			}
		}
		return leader >= 0
	})
	return leader
}

// delivery is one push delivery sent.
type delivery struct {
	id, sha string
	// at is when the commit was pushed and the delivery sent; took is how
	// long the reply took.
	at     time.Time
	took   time.Duration
	status int
	result string
}

// traffic pushes a commit every pushEvery and sends its delivery to the
// replicas in turn, without waiting for the reply, until stopped.
type traffic struct {
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	deliveries []*delivery
	err        error
}

// send starts pushing.
func (c *cluster) send(t *testing.T) *traffic {
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		var replies sync.WaitGroup
		defer replies.Wait()
		for n := 0; ; n++ {
			select {
			case <-tr.stop:
				return
			case <-time.After(pushEvery):
			}
			sha, err := c.push(t.Context(), n)
			if err != nil {
				tr.mu.Lock()
				tr.err = err
				tr.mu.Unlock()
				return
			}
			d := &delivery{id: fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), n), sha: sha, at: time.Now()}
			tr.mu.Lock()
			tr.deliveries = append(tr.deliveries, d)
			tr.mu.Unlock()
			to := c.replicas[n%len(c.replicas)].url()
			replies.Go(func() {
				status, result := deliver(to, d.id, c.payload(d.sha))
				tr.mu.Lock()
				defer tr.mu.Unlock()
				d.status, d.result, d.took = status, result, time.Since(d.at)
			})
		}
	}()
	return tr
}

// push commits a change of one workflow's replicas and pushes it.
func (c *cluster) push(ctx context.Context, n int) (string, error) {
	if err := os.WriteFile(filepath.Join(c.work, "workflows", "w005.json"), sample.Workflow(5, n+2), 0o644); err != nil {
		return "", err
	}
	for _, args := range [][]string{
		{"commit", "-q", "-am", fmt.Sprintf("Scale w005 to %d", n+2)},
		{"push", "-q", c.bare, "main"},
	} {
		if out, err := gittest.GitE(ctx, c.work, args...); err != nil {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, out)
		}
	}
	return gittest.GitE(ctx, c.work, "rev-parse", "HEAD")
}

// end stops the pushes, waits for the replies and returns the
// deliveries sent.
func (tr *traffic) end(t *testing.T) []*delivery {
	t.Helper()
	close(tr.stop)
	<-tr.done
	if tr.err != nil {
		t.Fatal(tr.err)
	}
	return tr.deliveries
}

// refused counts the deliveries sent after since: all, those a replica
// answered with other than 2xx, and those no replica answered (the one
// sent to was down, or held the request past requestTimeout); and the
// longest wait for a 2xx.
func (tr *traffic) refused(since time.Time) (total, answered, unanswered int, slowest time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, d := range tr.deliveries {
		if !d.at.After(since) {
			continue
		}
		total++
		if d.status/100 == 2 {
			slowest = max(slowest, d.took)
		}
		switch {
		case d.status == 0:
			unanswered++
		case d.status/100 != 2:
			answered++
		}
	}
	return total, answered, unanswered, slowest
}

// pushedAfter reports whether sha was pushed after since.
func (tr *traffic) pushedAfter(sha string, since time.Time) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, d := range tr.deliveries {
		if d.sha == sha {
			return d.at.After(since)
		}
	}
	return false
}

// pageSamples reads the status API of every replica until stopped and
// counts the rounds in which none answered 200, and the longest run of
// them; and the slowest first 200 of a round.
type pageSamples struct {
	stop chan struct{}
	done chan struct{}

	rounds, dark int
	longestDark  time.Duration
	// slowest is the longest a lit round waited for its first 200.
	slowest time.Duration
}

// sample starts sampling the status API.
func (c *cluster) sample() *pageSamples {
	s := &pageSamples{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var darkSince time.Time
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(sampleEvery):
			}
			asked := time.Now()
			lit := c.anyServes()
			if lit {
				s.slowest = max(s.slowest, time.Since(asked))
			}
			s.rounds++
			switch {
			case lit && !darkSince.IsZero():
				s.longestDark = max(s.longestDark, time.Since(darkSince))
				darkSince = time.Time{}
			case !lit:
				s.dark++
				if darkSince.IsZero() {
					darkSince = time.Now()
				}
			}
		}
	}()
	return s
}

// anyServes asks every replica for /api/status at once and reports
// whether one answers 200, without waiting for the others.
func (c *cluster) anyServes() bool {
	codes := make(chan int, len(c.replicas))
	for _, r := range c.replicas {
		go func() {
			code, _ := get(r.url() + "/api/status")
			codes <- code
		}()
	}
	for range c.replicas {
		if <-codes == http.StatusOK {
			return true
		}
	}
	return false
}

// end stops the sampling.
func (s *pageSamples) end() {
	close(s.stop)
	<-s.done
}

// scenario is one fault: fault causes it and returns what heals it.
type scenario struct {
	name  string
	fault func(t *testing.T, c *cluster) (heal func())
	// pageDark is true when the fault leaves no replica to answer.
	pageDark bool
}

// TestFaults runs each scenario on a cluster of its own under continuous
// deliveries: the fault, then the first deploy of a commit pushed after
// it, the fault held faultHeld more, healed, and the pushes stopped; the
// deploy branch then converges to the last commit pushed.
func TestFaults(t *testing.T) {
	t.Parallel()
	bins := binaries{etcd: etcdBinary(t)}
	bins.hooks = hookstest.Build(t, root)
	for _, sc := range []scenario{
		{name: "kill the leading replica", fault: func(t *testing.T, c *cluster) func() {
			r := c.replicas[c.leader(t)]
			t.Logf("killing %s, the leading replica", r.name)
			r.kill()
			return func() { r.start(t) }
		}},
		{name: "kill an etcd follower", fault: func(t *testing.T, c *cluster) func() {
			i := (c.etcd.leader(t) + 1) % len(c.etcd.members)
			t.Logf("killing etcd member %s, a follower", c.etcd.members[i].name)
			c.etcd.kill(i)
			return func() { c.etcd.start(t, i) }
		}},
		{name: "kill the etcd leader", fault: func(t *testing.T, c *cluster) func() {
			i := c.etcd.leader(t)
			t.Logf("killing etcd member %s, the leader", c.etcd.members[i].name)
			c.etcd.kill(i)
			killed := time.Now()
			c.etcd.leader(t)
			t.Logf("etcd elected a new leader %s after the kill", time.Since(killed).Round(time.Millisecond))
			return func() { c.etcd.start(t, i) }
		}},
		{name: "partition the leading replica from etcd", fault: func(t *testing.T, c *cluster) func() {
			i := c.leader(t)
			t.Logf("cutting %s, the leading replica, off from every etcd member", c.replicas[i].name)
			for _, p := range c.proxies[i] {
				p.partition()
			}
			return func() {
				for _, p := range c.proxies[i] {
					p.heal()
				}
			}
		}},
		{name: "restart everything at once", pageDark: true, fault: func(t *testing.T, c *cluster) func() {
			t.Log("killing every replica and every etcd member")
			var wg sync.WaitGroup
			for _, r := range c.replicas {
				wg.Go(r.kill)
			}
			for i := range c.etcd.members {
				wg.Go(func() { c.etcd.kill(i) })
			}
			wg.Wait()
			for i := range c.etcd.members {
				c.etcd.start(t, i)
			}
			for _, r := range c.replicas {
				r.start(t)
			}
			return func() {}
		}},
	} {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, bins, sc) })
	}
}

// runScenario runs one scenario and checks what it must keep.
func runScenario(t *testing.T, bins binaries, sc scenario) {
	c := newCluster(t, bins)
	page := c.sample()
	tr := c.send(t)
	began := time.Now()
	waitFor(t, "deploys under the pushes", func() bool { return c.deployedAfter(t, tr, began) })

	faulted := time.Now()
	heal := sc.fault(t, c)
	waitFor(t, "a deploy of a commit pushed after the fault", func() bool { return c.deployedAfter(t, tr, faulted) })
	failover := time.Since(faulted)
	time.Sleep(faultHeld)
	heal()
	for _, r := range c.replicas {
		r.waitReady(t)
	}
	c.etcd.waitHealthy(t)
	time.Sleep(faultHeld)
	deliveries := tr.end(t)
	total, refused, unanswered, slowest := tr.refused(faulted)
	last := deliveries[len(deliveries)-1]
	waitFor(t, "the deploy branch to converge to the last push", func() bool { return c.deployed(t.Context()) == last.sha })
	converged := time.Since(last.at)
	page.end()

	t.Logf("FAULT %q: first deploy %s after the fault; converged %s after the last push; deliveries from the fault to the end of the pushes refused %s, unanswered %s, slowest 2xx %s; "+
		"status API dark in %s sampling rounds, longest %s, slowest 200 %s; replicas restarted after exiting: %d",
		sc.name, failover.Round(time.Millisecond), converged.Round(time.Millisecond), fmtRate(refused, total), fmtRate(unanswered, total), slowest.Round(time.Millisecond),
		fmtRate(page.dark, page.rounds), page.longestDark.Round(time.Millisecond), page.slowest.Round(time.Millisecond), c.restarts())

	if page.dark > 0 && !sc.pageDark {
		t.Errorf("no replica answered /api/status with 200 in %s sampling rounds (longest %s)", fmtRate(page.dark, page.rounds), page.longestDark)
	}
	checkDeployedOnce(t, c, last.sha)
	checkRecorded(t, c, deliveries)
}

// checkDeployedOnce checks that no source commit has two deploy commits,
// and that the last one pushed has one.
func checkDeployedOnce(t *testing.T, c *cluster, last string) {
	t.Helper()
	deploys := map[string]int{}
	for _, line := range strings.Split(gittest.Git(t, c.bare, "log", "--format=%(trailers:key=Source-Commit,valueonly,separator=%x2C)", "deploy"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			deploys[line]++
		}
	}
	for sha, n := range deploys {
		if n > 1 {
			t.Errorf("source commit %s has %d deploy commits, want one", sha, n)
		}
	}
	if deploys[last] != 1 {
		t.Errorf("the last source commit %s has %d deploy commits, want one", last, deploys[last])
	}
}

// checkRecorded sends every delivery acknowledged with 2xx again, to
// every replica: each must answer that it was handled before, which
// shows that its record, written with the deploy signal, outlived the
// fault.
func checkRecorded(t *testing.T, c *cluster, deliveries []*delivery) {
	t.Helper()
	acked := 0
	for _, d := range deliveries {
		if d.status/100 != 2 {
			continue
		}
		acked++
		for _, r := range c.replicas {
			if status, result := deliver(r.url(), d.id, c.payload(d.sha)); status != http.StatusOK || result != "duplicate" {
				t.Errorf("delivery %s (acknowledged %d %s) sent again to %s: %d %s; want 200 duplicate", d.id, d.status, d.result, r.name, status, result)
			}
		}
	}
	t.Logf("%d of %d deliveries acknowledged, each on record at every replica", acked, len(deliveries))
}
