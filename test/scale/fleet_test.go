// Package scale_test measures the live status at scale on the real stack:
// generated workflows deployed through Flux to the kwok node, the real
// cmd/hooks process watching them (HOOKS_KUBECONFIG), its memory, the
// server time of /api/status and the overview page, and the time from an
// object's change in the API server to its event on the status stream.
package scale_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/hookstest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// root is the checkout's root.
const root = "../.."

// Each generated workflow has an Ingress and tiers of ten objects: a
// Deployment of one replica, the Service that selects it, the
// NetworkPolicy that guards it and seven ConfigMaps mounted into it.
const (
	tiers              = 5
	objectsPerWorkflow = 1 + 10*tiers
)

// webhookSecret signs nothing here; the service needs one to start.
const webhookSecret = "scale-webhook-secret-0123456789"

// minWrite is the service's HOOKS_STATUS_MIN_WRITE (its default): changes
// to one workflow are spaced further apart than this, so that the rate
// limit never holds an event back.
const minWrite = time.Second

// scaleWorkflow returns workflow w<i>: an Ingress routing to the first
// tier's Service, and the tiers.
func scaleWorkflow(i int) []byte {
	type obj = map[string]any
	node := func(id, typ string, x, y int, data obj) obj {
		return obj{"id": id, "type": typ, "position": obj{"x": x, "y": y}, "data": data}
	}
	edge := func(source, target, handle string) obj {
		e := obj{"id": source + "-" + target, "source": source, "target": target}
		if handle != "" {
			e["targetHandle"] = handle
		}
		return e
	}
	nodes := []obj{node("ing", "ingress", 0, 0, obj{"name": "web", "host": fmt.Sprintf("w%03d.example.com", i),
		"paths": []obj{{"id": "root", "path": "/", "pathType": "Prefix"}}})}
	edges := []obj{edge("ing", "s0", "")}
	for t := range tiers {
		app, y := fmt.Sprintf("app%d", t), 200*t
		d, s, n := fmt.Sprintf("d%d", t), fmt.Sprintf("s%d", t), fmt.Sprintf("n%d", t)
		nodes = append(nodes,
			node(d, "deployment", 400, y, obj{"name": app, "image": "nginx:1.27", "replicas": 1, "port": 8080,
				"resources": obj{"requests": obj{"cpu": "10m", "memory": "16Mi"}}}),
			node(s, "service", 200, y, obj{"name": app, "port": 80}),
			node(n, "networkpolicy", 0, y+100, obj{"name": app, "policyTypes": []string{"Ingress"},
				"ingressRules": []obj{{"ports": []obj{{"port": 8080}}}}}))
		edges = append(edges, edge(s, d, ""), edge(n, d, ""))
		for _, c := range "abcdefg" {
			id := fmt.Sprintf("c%d%c", t, c)
			nodes = append(nodes, node(id, "configmap", 600, y, obj{"name": fmt.Sprintf("%s-%c", app, c),
				"mountPath": fmt.Sprintf("/etc/%c", c), "data": obj{"key": fmt.Sprintf("value %c", c)}}))
			edges = append(edges, edge(id, d, ""))
		}
	}
	b, err := json.MarshalIndent(obj{"name": workflowName(i), "status": "published", "nodes": nodes, "edges": edges}, "", " ")
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return b
}

func workflowName(i int) string { return fmt.Sprintf("w%03d", i) }

// fleet is a stack running generated workflows that cmd/hooks watches.
type fleet struct {
	stack     *kubetest.Stack
	hooks     *service
	workflows int
	// synced is how long it took from the stack's start until every
	// workflow was live and healthy on /api/status.
	synced time.Duration
	// objects is how many managed objects /api/status showed then.
	objects int
	// revision is the store revision /api/status was read at then.
	revision int64
}

// startFleet starts the stack, commits n generated workflows to a
// repository on its git server, runs cmd/hooks on it, bootstraps Flux on
// the deploy branch the service writes, assigns every Ingress an address
// as an ingress controller would, and waits until /api/status shows every
// workflow Synced and Healthy with all its objects.
func startFleet(tb testing.TB, n int, timeout time.Duration) *fleet {
	tb.Helper()
	began := time.Now()
	s, gitRoot := kubetest.ForTest(tb, filepath.Join(root, ".tools/kube/bin"), true)
	ctx := tb.Context()

	bare := filepath.Join(gitRoot, "workflows.git")
	gittest.InitBare(tb, bare)
	remote := s.GitURL("workflows.git")
	work := gittest.Init(tb)
	// Flux applies each workflow once within the hour: no periodic
	// re-apply of a hundred Kustomizations runs while the fleet is
	// measured.
	files := map[string][]byte{"clusters/" + workflow.DefaultCluster + ".json": []byte(`{"name": "default", "default": true, "flux": {"interval": "1h"}}`)}
	for i := range n {
		files["workflows/"+workflowName(i)+".json"] = scaleWorkflow(i)
	}
	gittest.Commit(tb, work, fmt.Sprintf("Add %d generated workflows", n), files)
	gittest.Git(tb, work, "push", "-q", remote, "main")

	f := &fleet{stack: s, workflows: n}
	h := hookstest.Start(tb, root,
		"HOOKS_SOURCE_REPO="+remote,
		"HOOKS_GITHUB_WEBHOOK_SECRET="+webhookSecret,
		"HOOKS_KUBECONFIG="+s.Kubeconfig,
		"HOOKS_STATUS_MIN_WRITE="+minWrite.String(),
	)
	f.hooks = &service{url: h.URL, pid: h.PID, client: &http.Client{Timeout: 30 * time.Second}}
	// Flux starts once the service has written the deploy branch.
	err := s.Poll(ctx, 2*time.Minute, func() (bool, error) {
		_, err := gittest.GitE(ctx, bare, "rev-parse", "--verify", "-q", "refs/heads/deploy")
		return err == nil, nil
	})
	if err != nil {
		tb.Fatalf("no deploy branch: %v", err)
	}
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: workflow.DefaultCluster, URL: remote, Branch: "deploy", Interval: 10 * time.Minute}, compiler.DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Apply(ctx, bootstrap); err != nil {
		tb.Fatal(err)
	}

	var last string
	err = s.Poll(ctx, timeout, func() (bool, error) {
		if err := f.assignAddresses(ctx); err != nil {
			return false, err
		}
		var o hooks.Overview
		if _, err := f.hooks.get(ctx, "/api/status", &o); err != nil {
			return false, err
		}
		healthy, objects := 0, 0
		for _, ws := range o.Workflows {
			if ws.Health == watch.Healthy && ws.Sync.State == watch.Synced {
				healthy++
			}
			for _, nd := range ws.Nodes {
				objects += len(nd.Objects)
			}
		}
		last = fmt.Sprintf("%d of %d workflows Synced and Healthy, %d objects", healthy, n, objects)
		f.objects, f.revision = objects, o.Revision
		return healthy == n && objects == n*objectsPerWorkflow, nil
	})
	if err != nil {
		tb.Fatalf("the fleet did not turn healthy: %v; last: %s", err, last)
	}
	f.synced = time.Since(began)
	tb.Logf("%d workflows, %d objects live and healthy on /api/status after %s", n, f.objects, f.synced.Round(time.Second))
	return f
}

// ingressAddress is what an ingress controller would report.
var ingressAddress = []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}`)

// noAddress takes it back.
var noAddress = []byte(`{"status":{"loadBalancer":{"ingress":null}}}`)

// assignAddresses gives every managed Ingress that has none an address.
func (f *fleet) assignAddresses(ctx context.Context) error {
	list, err := f.stack.Client.NetworkingV1().Ingresses(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy})
	if err != nil {
		return err
	}
	for _, ing := range list.Items {
		if len(ing.Status.LoadBalancer.Ingress) == 0 {
			if err := f.setAddress(ctx, ing.Namespace, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// setAddress gives the Ingress of workflow wf an address, or takes it
// away, through the API server's status subresource.
func (f *fleet) setAddress(ctx context.Context, wf string, on bool) error {
	patch := noAddress
	if on {
		patch = ingressAddress
	}
	_, err := f.stack.Client.NetworkingV1().Ingresses(wf).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

// memory returns the service's peak and current resident memory, in
// bytes (VmHWM and VmRSS of /proc/<pid>/status).
func (f *fleet) memory(tb testing.TB) (peak, current int64) {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.hooks.pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		key, v, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch {
		case err != nil:
		case key == "VmHWM":
			peak = kb << 10
		case key == "VmRSS":
			current = kb << 10
		}
	}
	return peak, current
}

// service is cmd/hooks running as a process.
type service struct {
	url    string
	pid    int
	client *http.Client
}

// get fetches path and decodes its JSON into v unless v is nil.
func (s *service) get(ctx context.Context, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if v == nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", path, err)
	}
	return resp.StatusCode, nil
}

// event is one Server-Sent Event, with the time its last line was read.
type event struct {
	kind, data string
	at         time.Time
}

// events reads the service's status stream after a store revision; the
// stream ends with the test.
func (s *service) events(tb testing.TB, after int64) <-chan event {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	tb.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/events?after=%d", s.url, after), nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(chan event, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		r := bufio.NewReaderSize(resp.Body, 1<<20)
		var e event
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch line = strings.TrimSuffix(line, "\n"); {
			case line == "" && e.kind != "":
				e.at = time.Now()
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
				e = event{}
			case strings.HasPrefix(line, "event: "):
				e.kind = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				e.data = line[len("data: "):]
			}
		}
	}()
	return out
}

// change is one Ingress address change and the time it was sent.
type change struct {
	workflow string
	on       bool
	sent     time.Time
}

// seenIn reports whether a workflow event shows the change: the
// workflow's Ingress with an address when the change gives it one, and
// without when it takes it away.
func (c change) seenIn(e event) (bool, error) {
	if e.kind != "workflow" || !strings.Contains(e.data, `"name":"`+c.workflow+`"`) {
		return false, nil
	}
	var ws watch.WorkflowStatus
	if err := json.Unmarshal([]byte(e.data), &ws); err != nil {
		return false, fmt.Errorf("event data: %w", err)
	}
	for _, n := range ws.Nodes {
		for _, o := range n.Objects {
			if n.ID == "ing" && o.Kind == "Ingress" {
				return ws.Name == c.workflow && (o.Figures != nil && len(o.Figures.Addresses) > 0) == c.on, nil
			}
		}
	}
	return false, nil
}

// toggler changes one workflow's Ingress after another, round robin, and
// measures each change's time to its event on the stream.
type toggler struct {
	f      *fleet
	events <-chan event
	next   int
	on     map[string]bool
	last   map[string]time.Time
}

// toggler starts reading the stream after the revision the fleet was
// seen healthy at, when every Ingress had an address.
func (f *fleet) toggler(tb testing.TB) *toggler {
	t := &toggler{f: f, events: f.hooks.events(tb, f.revision), on: map[string]bool{}, last: map[string]time.Time{}}
	for i := range f.workflows {
		t.on[workflowName(i)] = true
	}
	return t
}

// toggle takes the next workflow's Ingress address away, or gives it
// back, and returns the time from the request to the API server until
// the stream shows the change.
func (t *toggler) toggle(tb testing.TB) time.Duration {
	tb.Helper()
	wf := workflowName(t.next % t.f.workflows)
	t.next++
	// Not sooner than the status rate limit allows a write.
	if wait := minWrite + 100*time.Millisecond - time.Since(t.last[wf]); wait > 0 {
		time.Sleep(wait)
	}
	c := change{workflow: wf, on: !t.on[wf], sent: time.Now()}
	if err := t.f.setAddress(tb.Context(), wf, c.on); err != nil {
		tb.Fatal(err)
	}
	t.on[wf], t.last[wf] = c.on, c.sent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-t.events:
			if !ok {
				tb.Fatal("the event stream ended")
			}
			seen, err := c.seenIn(e)
			if err != nil {
				tb.Fatal(err)
			}
			if seen {
				return e.at.Sub(c.sent)
			}
		case <-timeout:
			tb.Fatalf("no event shows %s's ingress with on=%t within 30s", wf, c.on)
		}
	}
}
