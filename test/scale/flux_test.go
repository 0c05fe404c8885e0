package scale_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// smallObjects is how many managed objects a small workflow has.
const smallObjects = 2

// smallWorkflow returns workflow w<i> with release r: a Deployment of one
// replica whose environment carries RELEASE=r, and the Service that
// selects it.
func smallWorkflow(i, release int) []byte {
	type obj = map[string]any
	b, err := json.MarshalIndent(obj{"name": workflowName(i), "status": "published",
		"nodes": []obj{
			{"id": "web", "type": "deployment", "position": obj{"x": 0, "y": 0}, "data": obj{"name": "web", "image": "nginx:1.27", "replicas": 1, "port": 8080,
				"env": obj{"RELEASE": strconv.Itoa(release)}, "resources": obj{"requests": obj{"cpu": "10m", "memory": "16Mi"}}}},
			{"id": "svc", "type": "service", "position": obj{"x": 250, "y": 0}, "data": obj{"name": "web", "port": 80}},
		},
		"edges": []obj{{"id": "svc-web", "source": "svc", "target": "web"}},
	}, "", " ")
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return b
}

// layouts are the two ways Flux reads the deploy branch: one
// GitRepository for every workflow, or one per workflow
// (HOOKS_FLUX_WORKFLOW_SOURCES).
var layouts = []struct {
	name            string
	workflowSources bool
}{{"shared-source", false}, {"workflow-sources", true}}

// BenchmarkFluxPush measures push → live of one changed workflow among
// n small ones (a Deployment and its Service), deployed through Flux from
// the deploy branch the real cmd/hooks process writes (make flux-bench),
// in each layout, for each n of FLUX_WORKFLOWS, a comma-separated list
// (default 5,500): BenchmarkFluxPush/<layout>/<n>. Every count of a
// layout runs in one invocation, one after another on a stack of its own,
// so that their figures come from the same machine at about the same
// time. Flux's controllers run as an operator of many workflows tunes
// them (smallFleet), the same for every count. Each iteration commits a
// new RELEASE to one workflow, spread over them, pushes it to the stack's
// git server and delivers the signed push webhook; it ends when the status
// stream (/api/events) carries that workflow's record with the pushed
// source commit live, Synced and Healthy: Flux applied the deploy commit
// holding it and its health check passed. Before the next push every
// Kustomization has applied its source's latest artifact, so that no push
// waits for the previous one's work.
//
//   - p50-ms, p99-ms: from the delivery's 202 to that event;
//   - settled-p50-ms, settled-p99-ms: from the delivery's 202 until every
//     Kustomization applied its source's artifact;
//   - first-apply-s: from the push of the n workflows until every one
//     was live and healthy on /api/status.
//
// Setup took half a minute for 5 workflows and most of an hour for 500
// on two busy cores, in the layout with a source per workflow, when each
// workflow's GitRepository checked out the whole deploy tree, so that
// source-controller's work grew with the square of the count; each now
// checks out only its directory. Run it with a fixed count (-benchtime
// 4x).
func BenchmarkFluxPush(b *testing.B) {
	counts, err := workflowCounts(os.Getenv("FLUX_WORKFLOWS"))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			for _, n := range counts {
				b.Run(strconv.Itoa(n), func(b *testing.B) {
					f := startFleetOf(b, smallFleet(n, l.workflowSources, time.Hour))
					p := f.pusher(b)
					var live, settled []time.Duration
					for b.Loop() {
						l, s := p.push(b)
						live, settled = append(live, l.Round(time.Millisecond)), append(settled, s.Round(time.Millisecond))
					}
					// One line each: the testing package keeps only the first
					// ten lines of a benchmark's log.
					b.Logf("pushes → live: %v", live)
					b.Logf("pushes → every Kustomization applied: %v", settled)
					reportPercentiles(b, "", live)
					reportPercentiles(b, "settled-", settled)
					b.ReportMetric(f.applied.Seconds(), "first-apply-s")
					b.ReportMetric(float64(n), "workflows")
				})
			}
		})
	}
}

// workflowCounts parses FLUX_WORKFLOWS: workflow counts separated by
// commas; 5 and 500 if it is empty.
func workflowCounts(s string) ([]int, error) {
	if s == "" {
		return []int{5, 500}, nil
	}
	var out []int
	for i, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("FLUX_WORKFLOWS=%q: item %d, %q, is not a positive number of workflows", s, i+1, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// TestFluxPush runs the benchmark's path at a small scale, 3 workflows
// each pushed once, in each layout; with a source per workflow, each
// workflow's GitRepository's artifact holds only the workflow's
// directory, and a push has Flux apply only the workflow it changed, and
// the others stay on the revision they had.
func TestFluxPush(t *testing.T) {
	const n = 3
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			f := startFleetOf(t, smallFleet(n, l.workflowSources, 10*time.Minute))
			p := f.pusher(t)
			if l.workflowSources {
				p.checkArtifacts(t)
			}
			for range n {
				before := p.applied(t)
				live, settled := p.push(t)
				t.Logf("push → live %s, → every Kustomization applied %s", live.Round(time.Millisecond), settled.Round(time.Millisecond))
				after := p.applied(t)
				for wf, rev := range after {
					changed := wf == p.changed
					if moved := rev != before[wf]; l.workflowSources && moved != changed {
						t.Errorf("a push to %s: %s went from %s to %s", p.changed, wf, before[wf], rev)
					}
				}
			}
		})
	}
}

// Flux's controllers as an operator of hundreds of workflows runs them:
// source-controller fetches 8 GitRepositories at a time, not 2, and
// kustomize-controller applies 32 Kustomizations at a time, not 4, since
// most of a Kustomization's time is its wait for the health of what it
// applied. Where cores are few and busy, source-controller is bound by
// them all the same. Every count runs with the same, so that their
// figures compare.
var (
	sourceControllerTuning    = []string{"--concurrent", "8"}
	kustomizeControllerTuning = []string{"--concurrent", "32"}
)

// smallFleet is n small workflows in a layout, with Flux's controllers
// tuned for many.
func smallFleet(n int, workflowSources bool, timeout time.Duration) fleetSpec {
	return fleetSpec{workflows: n, gen: func(i int) []byte { return smallWorkflow(i, 1) }, objects: smallObjects,
		workflowSources: workflowSources, timeout: timeout,
		sourceControllerArgs: sourceControllerTuning, kustomizeControllerArgs: kustomizeControllerTuning}
}

// goldenRatio spreads a sequence over an interval: the fractional parts
// of its multiples never bunch.
const goldenRatio = 0.6180339887498949

// pusher pushes a new release of one workflow after another, spread over
// them, and measures
// the time to it being live.
type pusher struct {
	f       *fleet
	dyn     dynamic.Interface
	events  <-chan event
	payload map[string]any
	head    string
	next    int
	release map[int]int
	// changed is the workflow the last push changed.
	changed string
}

// pusher starts reading the stream after the revision the fleet was seen
// healthy at.
func (f *fleet) pusher(tb testing.TB) *pusher {
	tb.Helper()
	dyn, err := dynamic.NewForConfig(f.clusters[0].stack.Config)
	if err != nil {
		tb.Fatal(err)
	}
	p := &pusher{f: f, dyn: dyn, events: f.hooks.events(tb, f.revision), release: map[int]int{},
		head: gittest.Git(tb, f.work, "rev-parse", "HEAD")}
	for _, raw := range githubtest.Examples(tb, root, "push") {
		if err := json.Unmarshal(raw, &p.payload); err != nil {
			tb.Fatal(err)
		}
		if ref, _ := p.payload["ref"].(string); strings.HasPrefix(ref, "refs/heads/") {
			return p
		}
	}
	tb.Fatal("no push example pushes a branch")
	return nil
}

// push commits the next workflow's next release, pushes it, delivers the
// push webhook and returns the times from the delivery's reply until the
// workflow is live and healthy with it, and until every Kustomization
// applied the deploy head.
func (p *pusher) push(tb testing.TB) (live, settled time.Duration) {
	tb.Helper()
	// Pushes spread over the workflows, whatever their number: Flux may
	// reconcile the Kustomizations of one source in the order of their
	// names, so the first would be quick in every layout.
	p.next++
	i := int(math.Mod(float64(p.next)*goldenRatio, 1) * float64(p.f.workflows))
	p.release[i]++
	wf := workflowName(i)
	p.changed = wf
	before := p.head
	p.head = gittest.Commit(tb, p.f.work, fmt.Sprintf("Release %d of %s", p.release[i]+1, wf),
		map[string][]byte{"workflows/" + wf + ".json": smallWorkflow(i, p.release[i]+1)})
	gittest.Git(tb, p.f.work, "push", "-q", p.f.remote, "main")
	body := testutil.Marshal(tb, testutil.Apply(tb, p.payload,
		testutil.Set("/ref", "refs/heads/main"), testutil.Set("/before", before), testutil.Set("/after", p.head)))
	p.f.hooks.deliver(tb, "push", fmt.Sprintf("push-%d", p.next), body)
	began := time.Now()

	timeout := time.After(10 * time.Minute)
wait:
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				tb.Fatal("the event stream ended")
			}
			if e.kind != "workflow" || !strings.Contains(e.data, `"name":"`+wf+`"`) {
				continue
			}
			var ws watch.WorkflowStatus
			if err := json.Unmarshal([]byte(e.data), &ws); err != nil {
				tb.Fatalf("event data: %v", err)
			}
			if ws.Name == wf && ws.Sync.State == watch.Synced && ws.Health == watch.Healthy && ws.Sync.Live != nil && ws.Sync.Live.SourceCommit == p.head {
				live = e.at.Sub(began)
				break wait
			}
		case <-timeout:
			tb.Fatalf("%s is not live and healthy with %s within 10 minutes", wf, p.head[:7])
		}
	}
	p.settle(tb)
	return live, time.Since(began)
}

// applied returns the revision each workflow's Kustomization applied last.
func (p *pusher) applied(tb testing.TB) map[string]string {
	tb.Helper()
	ks, err := p.dyn.Resource(watch.Kustomizations).Namespace(compiler.DefaultFluxNamespace).List(tb.Context(),
		metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range ks.Items {
		out[k.GetName()], _, _ = unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
	}
	return out
}

// checkArtifacts checks that each workflow's own GitRepository checked
// out only the workflow's directory in the deploy tree, and that its
// artifact, as source-controller serves it, holds files of that directory
// and nothing else.
func (p *pusher) checkArtifacts(tb testing.TB) {
	tb.Helper()
	repos, err := p.dyn.Resource(watch.GitRepositories).Namespace(compiler.DefaultFluxNamespace).List(tb.Context(),
		metav1.ListOptions{LabelSelector: workflow.LabelManagedBy + "=" + workflow.ManagedBy})
	if err != nil {
		tb.Fatal(err)
	}
	if len(repos.Items) != p.f.workflows {
		tb.Fatalf("%d workflow GitRepositories; want %d", len(repos.Items), p.f.workflows)
	}
	for _, r := range repos.Items {
		sparse, _, _ := unstructured.NestedStringSlice(r.Object, "status", "observedSparseCheckout")
		if want := []string{compiler.WorkflowDir(r.GetName())}; !slices.Equal(sparse, want) {
			tb.Errorf("GitRepository %s checked out %q; want %q", r.GetName(), sparse, want)
		}
		url, _, _ := unstructured.NestedString(r.Object, "status", "artifact", "url")
		files := artifactFiles(tb, url)
		dir := compiler.WorkflowDir(r.GetName()) + "/"
		if len(files) == 0 {
			tb.Errorf("GitRepository %s: artifact %s holds no file", r.GetName(), url)
		}
		for _, name := range files {
			if !strings.HasPrefix(name, dir) {
				tb.Errorf("GitRepository %s: artifact holds %s, outside %s", r.GetName(), name, dir)
			}
		}
	}
}

// artifactFiles returns the names of the regular files in the gzipped
// tarball source-controller serves at url.
func artifactFiles(tb testing.TB, url string) []string {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		tb.Fatalf("artifact %s: %v", url, err)
	}
	var names []string
	for tr := tar.NewReader(zr); ; {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			tb.Fatalf("artifact %s: %v", url, err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, path.Clean(h.Name))
		}
	}
}

// settle waits until every Kustomization applied the artifact its
// GitRepository has. It drains the status stream meanwhile, as a page
// would read it, so that the service never cuts it for falling behind.
func (p *pusher) settle(tb testing.TB) {
	tb.Helper()
	ctx := tb.Context()
	var last string
	err := p.f.clusters[0].stack.Poll(ctx, 20*time.Minute, func() (bool, error) {
		for drained := false; !drained; {
			select {
			case _, ok := <-p.events:
				if !ok {
					return false, errors.New("the event stream ended")
				}
			default:
				drained = true
			}
		}
		sources, err := p.dyn.Resource(watch.GitRepositories).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		artifact := map[string]string{}
		for _, s := range sources.Items {
			artifact[s.GetNamespace()+"/"+s.GetName()], _, _ = unstructured.NestedString(s.Object, "status", "artifact", "revision")
		}
		ks, err := p.dyn.Resource(watch.Kustomizations).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		behind := 0
		for _, k := range ks.Items {
			ref, _, _ := unstructured.NestedStringMap(k.Object, "spec", "sourceRef")
			ns := ref["namespace"]
			if ns == "" {
				ns = k.GetNamespace()
			}
			applied, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
			if applied != artifact[ns+"/"+ref["name"]] {
				behind++
			}
		}
		last = fmt.Sprintf("%d of %d Kustomizations behind their source", behind, len(ks.Items))
		return behind == 0, nil
	})
	if err != nil {
		tb.Fatalf("Flux did not settle: %v; last: %s", err, last)
	}
}

// deliver posts a webhook delivery signed as GitHub signs it; anything
// but 202 Accepted fails.
func (s *service) deliver(tb testing.TB, event, id string, body []byte) {
	tb.Helper()
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, s.url+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("%s delivery %s: %s %s", event, id, resp.Status, reply)
	}
}
