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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

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

// scaleWorkflow returns workflow w<i> on cluster: an Ingress routing to
// the first tier's Service, and the tiers.
func scaleWorkflow(i int, cluster string) []byte {
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
	b, err := json.MarshalIndent(obj{"name": workflowName(i), "cluster_id": cluster, "status": "published", "nodes": nodes, "edges": edges}, "", " ")
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return b
}

func workflowName(i int) string { return fmt.Sprintf("w%03d", i) }

// fleet is generated workflows running on clusters that cmd/hooks
// watches.
type fleet struct {
	// clusters run the workflows: workflow i runs on cluster i modulo
	// their number.
	clusters []cluster
	// kubeconfig has a context for each cluster, named as it.
	kubeconfig string
	// bare is the repository on the git server, at remote; work is its
	// working copy.
	bare, remote, work string
	hooks              *service
	workflows          int
	// synced is how long it took from the start given to grow until every
	// workflow was live and healthy on /api/status; applied, from grow's
	// push of the workflows until then.
	synced, applied time.Duration
	// objects is how many managed objects /api/status showed then.
	objects int
	// revision is the store revision /api/status was read at then.
	revision int64
	// gen returns workflow i, on the named cluster, which has perWorkflow
	// managed objects.
	gen         func(i int, cluster string) []byte
	perWorkflow int
	// workflowSources gives each workflow a GitRepository of its own
	// (HOOKS_FLUX_WORKFLOW_SOURCES, bootstrap's WorkflowSources).
	workflowSources bool
}

// cluster is one cluster of a fleet.
type cluster struct {
	name  string
	stack *kubetest.Stack
	// standIn is set for a cluster that runs no controllers: the fleet
	// sets its Deployments' status, as the controller-manager and a
	// kubelet would once the pods run.
	standIn bool
}

// startFleet starts the stack, commits n generated workflows to a
// repository on its git server, runs cmd/hooks on it, bootstraps Flux on
// the deploy branch the service writes, assigns every Ingress an address
// as an ingress controller would, and waits until /api/status shows every
// workflow Synced and Healthy with all its objects.
func startFleet(tb testing.TB, n int, timeout time.Duration) *fleet {
	tb.Helper()
	return startFleetOf(tb, fleetSpec{workflows: n, timeout: timeout})
}

// fleetSpec says what startFleetOf runs.
type fleetSpec struct {
	workflows int
	// gen returns workflow i, which has objects managed objects; nil for
	// scaleWorkflow.
	gen     func(i int) []byte
	objects int
	// workflowSources gives each workflow a GitRepository of its own.
	workflowSources bool
	// timeout bounds the wait for every workflow to be healthy.
	timeout time.Duration
	// sourceControllerArgs and kustomizeControllerArgs tune Flux's
	// controllers, as kubetest.Options do.
	sourceControllerArgs, kustomizeControllerArgs []string
}

// startFleetOf is startFleet on one cluster as spec says.
func startFleetOf(tb testing.TB, spec fleetSpec) *fleet {
	tb.Helper()
	began := time.Now()
	s, gitRoot := kubetest.ForTestWith(tb, kubetest.Options{BinDir: filepath.Join(root, ".tools/kube/bin"), Flux: true,
		SourceControllerArgs: spec.sourceControllerArgs, KustomizeControllerArgs: spec.kustomizeControllerArgs})
	f := newFleet(tb, gitRoot, s.GitURL, s.Kubeconfig, []cluster{{name: workflow.DefaultCluster, stack: s}})
	if spec.gen != nil {
		f.gen = func(i int, _ string) []byte { return spec.gen(i) }
		f.perWorkflow = spec.objects
	}
	f.workflowSources = spec.workflowSources
	f.grow(tb, spec.workflows, spec.timeout, began)
	return f
}

// newFleet makes the fleet's repository, workflows.git under gitRoot,
// served at gitURL("workflows.git"), with a file for each cluster, the
// first the default one. It has no workflows yet.
func newFleet(tb testing.TB, gitRoot string, gitURL func(string) string, kubeconfig string, clusters []cluster) *fleet {
	tb.Helper()
	f := &fleet{clusters: clusters, kubeconfig: kubeconfig, bare: filepath.Join(gitRoot, "workflows.git"), remote: gitURL("workflows.git"), work: gittest.Init(tb),
		gen: scaleWorkflow, perWorkflow: objectsPerWorkflow}
	gittest.InitBare(tb, f.bare)
	// Flux applies each workflow once within the hour: no periodic
	// re-apply of a hundred Kustomizations runs while the fleet is
	// measured.
	files := map[string][]byte{}
	for i, c := range clusters {
		files["clusters/"+c.name+".json"] = fmt.Appendf(nil, `{"name": %q, "default": %t, "flux": {"interval": "1h"}}`, c.name, i == 0)
	}
	gittest.Commit(tb, f.work, "Add the clusters", files)
	return f
}

// clusterOf is the cluster workflow i runs on.
func (f *fleet) clusterOf(i int) cluster { return f.clusters[i%len(f.clusters)] }

// grow commits generated workflows until there are n, runs cmd/hooks on
// the repository (a new process, for the test or benchmark tb), bootstraps
// Flux on each cluster on the deploy branch the service writes if it is
// not yet, assigns every Ingress an address as an ingress controller
// would, and waits until /api/status shows every workflow Synced and
// Healthy with all its objects; synced is measured from began, applied
// from the push.
func (f *fleet) grow(tb testing.TB, n int, timeout time.Duration, began time.Time) {
	tb.Helper()
	ctx := tb.Context()
	files := map[string][]byte{}
	for i := f.workflows; i < n; i++ {
		files["workflows/"+workflowName(i)+".json"] = f.gen(i, f.clusterOf(i).name)
	}
	gittest.Commit(tb, f.work, fmt.Sprintf("Add %d generated workflows", n-f.workflows), files)
	gittest.Git(tb, f.work, "push", "-q", f.remote, "main")
	pushed := time.Now()
	f.workflows = n
	_, err := gittest.GitE(ctx, f.bare, "rev-parse", "--verify", "-q", "refs/heads/deploy")
	bootstrapped := err == nil

	f.hooks = startHooks(tb,
		"HOOKS_SOURCE_REPO="+f.remote,
		"HOOKS_GITHUB_WEBHOOK_SECRET="+webhookSecret,
		"HOOKS_KUBECONFIG="+f.kubeconfig,
		"HOOKS_STATUS_MIN_WRITE="+minWrite.String(),
		// Each garbage collection logs the heap it left live (liveHeap).
		"GODEBUG=gctrace=1",
		"HOOKS_FLUX_WORKFLOW_SOURCES="+strconv.FormatBool(f.workflowSources),
	)
	if !bootstrapped {
		f.bootstrap(tb)
	}

	f.waitHealthy(tb, timeout)
	f.synced, f.applied = time.Since(began), time.Since(pushed)
	tb.Logf("%d workflows, %d objects live and healthy on /api/status after %s, %s after the workflows were pushed",
		n, f.objects, f.synced.Round(time.Second), f.applied.Round(time.Second))
}

// waitHealthy waits until /api/status shows every workflow Synced and
// Healthy with all its objects, and records their number and the store
// revision read then.
func (f *fleet) waitHealthy(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	ctx := tb.Context()
	var last string
	err := f.clusters[0].stack.Poll(ctx, timeout, func() (bool, error) {
		// An API server that times out on a busy machine is asked again.
		if err := f.standIn(ctx); err != nil {
			last = err.Error()
			return false, nil
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
		last = fmt.Sprintf("%d of %d workflows Synced and Healthy, %d objects", healthy, f.workflows, objects)
		f.objects, f.revision = objects, o.Revision
		return healthy == f.workflows && objects == f.workflows*f.perWorkflow, nil
	})
	if err != nil {
		tb.Fatalf("the fleet did not turn healthy: %v; last: %s", err, last)
	}
}

// bootstrap applies Flux's bootstrap to each cluster once the service has
// written the deploy branch.
func (f *fleet) bootstrap(tb testing.TB) {
	tb.Helper()
	ctx := tb.Context()
	err := f.clusters[0].stack.Poll(ctx, 2*time.Minute, func() (bool, error) {
		_, err := gittest.GitE(ctx, f.bare, "rev-parse", "--verify", "-q", "refs/heads/deploy")
		return err == nil, nil
	})
	if err != nil {
		tb.Fatalf("no deploy branch: %v", err)
	}
	for _, c := range f.clusters {
		bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: c.name, URL: f.remote, Branch: "deploy", Interval: 10 * time.Minute,
			WorkflowSources: f.workflowSources}, compiler.DefaultOptions())
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.stack.Apply(ctx, bootstrap); err != nil {
			tb.Fatalf("cluster %s: %v", c.name, err)
		}
	}
}

// standIn does on each cluster what its controllers would: assigns every
// Ingress an address, and, on a cluster without controllers, reports
// every Deployment's pods ready.
func (f *fleet) standIn(ctx context.Context) error {
	for _, c := range f.clusters {
		if err := c.assignAddresses(ctx); err != nil {
			return fmt.Errorf("cluster %s: %w", c.name, err)
		}
		if !c.standIn {
			continue
		}
		if err := c.runDeployments(ctx); err != nil {
			return fmt.Errorf("cluster %s: %w", c.name, err)
		}
	}
	return nil
}

// runDeployments sets the status of every managed Deployment whose status
// is not current to what the controller-manager writes once its pods are
// ready. A conflict is left for the next call.
func (c cluster) runDeployments(ctx context.Context) error {
	deployments := c.stack.Client.AppsV1().Deployments(metav1.NamespaceAll)
	list, err := deployments.List(ctx, metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy})
	if err != nil {
		return err
	}
	for _, d := range list.Items {
		replicas := ptr.Deref(d.Spec.Replicas, 1)
		if d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == replicas {
			continue
		}
		now := metav1.Now()
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastUpdateTime: now, LastTransitionTime: now},
			},
		}
		if _, err := c.stack.Client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, &d, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// ingressAddress is what an ingress controller would report.
var ingressAddress = []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}`)

// noAddress takes it back.
var noAddress = []byte(`{"status":{"loadBalancer":{"ingress":null}}}`)

// assignAddresses gives every managed Ingress that has none an address.
func (c cluster) assignAddresses(ctx context.Context) error {
	list, err := c.stack.Client.NetworkingV1().Ingresses(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy})
	if err != nil {
		return err
	}
	for _, ing := range list.Items {
		if len(ing.Status.LoadBalancer.Ingress) == 0 {
			if err := c.setAddress(ctx, ing.Namespace, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// setAddress gives the Ingress of workflow wf an address, or takes it
// away, through the API server's status subresource.
func (c cluster) setAddress(ctx context.Context, wf string, on bool) error {
	patch := noAddress
	if on {
		patch = ingressAddress
	}
	_, err := c.stack.Client.NetworkingV1().Ingresses(wf).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}, "status")
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
	log    string
	client *http.Client
	proc   *hookstest.Service
}

// gcTrace matches the heap sizes of a garbage collection's line that
// GODEBUG=gctrace=1 writes: at its start, at its end, and marked live.
var gcTrace = regexp.MustCompile(`(?m)^gc \d+ @.* (\d+)->(\d+)->(\d+) MB`)

// liveHeap returns the heap the service's last garbage collection found
// live, in bytes, from its log; it fails when there was none.
func (s *service) liveHeap(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil {
		tb.Fatal(err)
	}
	all := gcTrace.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		tb.Fatalf("%s has no garbage collection trace (GODEBUG=gctrace=1)", s.log)
	}
	mb, _ := strconv.ParseInt(string(all[len(all)-1][3]), 10, 64)
	return mb << 20
}

// startHooks runs cmd/hooks with env added to its environment until tb
// ends, and returns once it is ready.
func startHooks(tb testing.TB, env ...string) *service {
	tb.Helper()
	h := hookstest.Start(tb, hookstest.Build(tb, root), env...)
	return &service{url: h.URL, pid: h.PID(), log: h.Log, client: &http.Client{Timeout: 30 * time.Second}, proc: h}
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
	i := t.next % t.f.workflows
	t.next++
	return t.toggleWorkflow(tb, i)
}

// toggleWorkflow takes workflow i's Ingress address away, or gives it
// back, and returns the time from the request to the API server until
// the stream shows the change.
func (t *toggler) toggleWorkflow(tb testing.TB, i int) time.Duration {
	tb.Helper()
	wf := workflowName(i)
	// Not sooner than the status rate limit allows a write.
	if wait := minWrite + 100*time.Millisecond - time.Since(t.last[wf]); wait > 0 {
		time.Sleep(wait)
	}
	c := change{workflow: wf, on: !t.on[wf], sent: time.Now()}
	if err := t.f.clusterOf(i).setAddress(tb.Context(), wf, c.on); err != nil {
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
