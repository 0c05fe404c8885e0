package scale_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
)

// clusterCount is how many clusters one service watches.
const clusterCount = 10

// startClusters starts clusterCount clusters on one etcd, each with
// Flux, and a fleet on them with no workflows yet.
func startClusters(tb testing.TB) *fleet {
	tb.Helper()
	names := make([]string, clusterCount)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	// Ten Kustomizations at a time, not Flux's default of four: each
	// mostly waits for its health check, and dozens of workflows per
	// cluster would otherwise take most of an hour to apply on a busy
	// machine.
	cs, gitRoot := kubetest.ClustersForTest(tb, kubetest.ClustersOptions{BinDir: filepath.Join(root, ".tools/kube/bin"), Names: names, Flux: true,
		KustomizeControllerArgs: []string{"--concurrent", "10"}})
	clusters := make([]cluster, len(names))
	for i, name := range names {
		clusters[i] = cluster{name: name, stack: cs.Stacks[name], standIn: true}
	}
	return newFleet(tb, gitRoot, cs.GitURL, cs.Kubeconfig, clusters)
}

// BenchmarkClusters measures one cmd/hooks process watching ten clusters
// (make clusters-bench): ten kube-apiservers on one etcd, each with Flux
// applying its share of generated workflows of 51 objects each. The
// service starts anew for each count of objects, and memory/objects=N
// reports its peak (VmHWM) and current (VmRSS) resident memory and the
// heap its last garbage collection found live, 10 s after every workflow
// was seen live and healthy; per-object reports the slopes between the
// two counts, in bytes per watched object.
func BenchmarkClusters(b *testing.B) {
	f := startClusters(b)
	var objects, rss, heap []int64
	for _, perCluster := range []int{4, 20} {
		n := perCluster * clusterCount
		b.Run(fmt.Sprintf("memory/objects=%d", n*objectsPerWorkflow), func(b *testing.B) {
			f.grow(b, n, 30*time.Minute, time.Now())
			time.Sleep(10 * time.Second)
			f.reportMemory(b)
			_, current := f.memory(b)
			objects, rss, heap = append(objects, int64(f.objects)), append(rss, current), append(heap, f.hooks.liveHeap(b))
		})
	}
	b.Run("per-object", func(b *testing.B) {
		for b.Loop() {
		}
		if len(objects) != 2 {
			b.Skip("a count of objects was not measured")
		}
		added := float64(objects[1] - objects[0])
		b.ReportMetric(float64(rss[1]-rss[0])/added, "rss-B/object")
		b.ReportMetric(float64(heap[1]-heap[0])/added, "heap-B/object")
	})
}

// TestClusters runs one cmd/hooks process on ten clusters, one workflow
// each: every cluster's workflow is live and healthy on /api/status, a
// change on cluster c7 reaches /api/events, and with one cluster's API
// server stopped only that cluster and its workflow read unreachable
// while changes on the other nine still arrive; once it is back, so is
// its health.
func TestClusters(t *testing.T) {
	f := startClusters(t)
	f.grow(t, clusterCount, 15*time.Minute, time.Now())

	o := f.overview(t)
	for i, c := range f.clusters {
		cs := clusterIn(t, o, c.name)
		if cs.Health != watch.Healthy || !cs.Watched || len(cs.Workflows) != 1 || cs.Workflows[0] != workflowName(i) {
			t.Errorf("cluster %s: %+v, want Healthy and watched, running %s alone", c.name, cs, workflowName(i))
		}
	}
	for _, ws := range o.Workflows {
		var i int
		fmt.Sscanf(ws.Name, "w%d", &i)
		if want := f.clusterOf(i).name; ws.Cluster != want {
			t.Errorf("workflow %s on cluster %s, want %s", ws.Name, ws.Cluster, want)
		}
	}

	tg := f.toggler(t)
	t.Logf("Ingress change on cluster c7 → event in %s", tg.toggleWorkflow(t, 7).Round(time.Millisecond))

	const down = 3
	halted, err := f.clusters[down].stack.Halt("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	err = f.clusters[0].stack.Poll(t.Context(), 2*time.Minute, func() (bool, error) {
		o := f.overview(t)
		cs := clusterIn(t, o, f.clusters[down].name)
		last = fmt.Sprintf("%s: %s", cs.Health, cs.Reason)
		return cs.Health == watch.Unknown && strings.Contains(cs.Reason, "unreachable since"), nil
	})
	if err != nil {
		t.Fatalf("cluster %s not shown unreachable: %v; last: %s", f.clusters[down].name, err, last)
	}
	o = f.overview(t)
	for _, ws := range o.Workflows {
		unreachable := strings.Contains(ws.Reason, "unreachable since")
		if ws.Cluster == f.clusters[down].name != unreachable {
			t.Errorf("workflow %s on cluster %s: %s: %s", ws.Name, ws.Cluster, ws.Health, ws.Reason)
		}
	}
	for i := range f.clusters {
		if i == down {
			continue
		}
		if cs := clusterIn(t, o, f.clusters[i].name); cs.Health != watch.Healthy {
			t.Errorf("with %s down, cluster %s: %s: %s", f.clusters[down].name, cs.Name, cs.Health, cs.Reason)
		}
		t.Logf("with %s down, an Ingress change on %s → event in %s", f.clusters[down].name, f.clusters[i].name, tg.toggleWorkflow(t, i).Round(time.Millisecond))
	}

	if err := halted.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	err = f.clusters[0].stack.Poll(t.Context(), 3*time.Minute, func() (bool, error) {
		cs := clusterIn(t, f.overview(t), f.clusters[down].name)
		last = fmt.Sprintf("%s: %s", cs.Health, cs.Reason)
		return cs.Health == watch.Healthy, nil
	})
	if err != nil {
		t.Fatalf("cluster %s not healthy again: %v; last: %s", f.clusters[down].name, err, last)
	}
	peak, rss := f.memory(t)
	t.Logf("hooks: peak %d MB, now %d MB resident", peak>>20, rss>>20)
}

// overview reads /api/status.
func (f *fleet) overview(tb testing.TB) hooks.Overview {
	tb.Helper()
	var o hooks.Overview
	if code, err := f.hooks.get(tb.Context(), "/api/status", &o); err != nil || code != 200 {
		tb.Fatalf("GET /api/status: %d %v", code, err)
	}
	return o
}

// clusterIn returns the record of cluster name in o.
func clusterIn(tb testing.TB, o hooks.Overview, name string) hooks.ClusterStatus {
	tb.Helper()
	for _, cs := range o.Clusters {
		if cs.Name == name {
			return cs
		}
	}
	tb.Fatalf("/api/status has no cluster %s", name)
	return hooks.ClusterStatus{}
}
