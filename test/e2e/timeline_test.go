package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-gitops/slipway/watch"
)

// deployments are the apps/v1 Deployments, whose rollout the timeline
// follows.
var deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// A mark is one step of a push on its way to the page, as the cluster
// shows it: value reads, from an object of resource, the revision the
// step has reached ("" for none).
type mark struct {
	name     string
	resource schema.GroupVersionResource
	value    func(u *unstructured.Unstructured) string
}

// marks are the steps the timeline records, in the order they happen.
var marks = []mark{
	{"artifact", watch.GitRepositories, func(u *unstructured.Unstructured) string {
		rev, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "revision")
		return watch.CommitOf(rev)
	}},
	{"applying", watch.Kustomizations, fluxRevision("lastAttemptedRevision")},
	{"health check", watch.Kustomizations, func(u *unstructured.Unstructured) string {
		for _, c := range watch.Conditions(u) {
			if c.Type == "Healthy" && c.Status == "Unknown" && strings.HasPrefix(c.Message, "Running health checks") {
				return fluxRevision("lastAttemptedRevision")(u)
			}
		}
		return ""
	}},
	{"rolled out", deployments, rolledOut},
	{"lastAppliedRevision", watch.Kustomizations, fluxRevision("lastAppliedRevision")},
}

// fluxRevision reads the commit of a revision field of the workflow's
// Kustomization.
func fluxRevision(field string) func(u *unstructured.Unstructured) string {
	return func(u *unstructured.Unstructured) string {
		if u.GetName() != workflowName {
			return ""
		}
		rev, _, _ := unstructured.NestedString(u.Object, "status", field)
		return watch.CommitOf(rev)
	}
}

// rolledOut is the RELEASE a Deployment of the workflow runs once its
// rollout is complete, as kstatus judges it: the spec observed, every
// replica updated and available, no old one left.
func rolledOut(u *unstructured.Unstructured) string {
	gen := u.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	want, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	var n [3]int64
	for i, f := range []string{"replicas", "updatedReplicas", "availableReplicas"} {
		n[i], _, _ = unstructured.NestedInt64(u.Object, "status", f)
	}
	if u.GetNamespace() != workflowName || observed != gen || n[0] != want || n[1] != want || n[2] != want {
		return ""
	}
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		env, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
		for _, e := range env {
			if e := e.(map[string]any); e["name"] == "RELEASE" {
				return "RELEASE=" + fmt.Sprint(e["value"])
			}
		}
	}
	return ""
}

// timeline remembers when each mark first reached each value, as the
// test's informers saw it.
type timeline struct {
	mu   sync.Mutex
	seen map[string]time.Time // mark + " " + value → first seen
}

// watchTimeline follows the marks in the cluster until the test ends.
func watchTimeline(t *testing.T, cfg *rest.Config) *timeline {
	t.Helper()
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tl := &timeline{seen: map[string]time.Time{}}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(client, 0)
	for _, m := range marks {
		record := func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				if v := m.value(u); v != "" {
					tl.record(m.name, v, time.Now())
				}
			}
		}
		_, err := factory.ForResource(m.resource).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    record,
			UpdateFunc: func(_, obj any) { record(obj) },
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	factory.Start(t.Context().Done())
	t.Cleanup(factory.Shutdown)
	factory.WaitForCacheSync(t.Context().Done())
	return tl
}

func (tl *timeline) record(mark, value string, at time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if _, ok := tl.seen[mark+" "+value]; !ok {
		tl.seen[mark+" "+value] = at
	}
}

// at returns when mark first reached value.
func (tl *timeline) at(mark, value string) (time.Time, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	at, ok := tl.seen[mark+" "+value]
	return at, ok
}

// serviceLog is what the service logged of one deploy: when it committed
// the deploy commit of a source commit and when it then asked Flux to
// reconcile.
type serviceLog struct {
	deploy            string
	deployed, request time.Time
	took              time.Duration // the deploy itself
}

// deployOf reads the service's JSON log for the deploy of source.
func deployOf(t *testing.T, logPath, source string) serviceLog {
	t.Helper()
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out serviceLog
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var l struct {
			Time           time.Time
			Msg            string
			Source, Deploy string
			Took           time.Duration
		}
		if json.Unmarshal(lines.Bytes(), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "deployed" && l.Source == source:
			out.deploy, out.deployed, out.took = l.Deploy, l.Time, l.Took
		case l.Msg == "asked Flux to reconcile" && !out.deployed.IsZero() && out.request.IsZero():
			out.request = l.Time
		}
	}
	return out
}

// step says when a step happened after began, or that it was not seen.
func step(name string, began, at time.Time, ok bool) string {
	if !ok || at.IsZero() {
		return name + " unseen"
	}
	return fmt.Sprintf("%s +%.2fs", name, at.Sub(began).Seconds())
}

// explain logs where the time of one push went: from the push delivery
// at began to the page showing source live at shown, as page.
func (tl *timeline) explain(t *testing.T, logPath string, n int, source string, began, shown time.Time, page string) {
	t.Helper()
	svc := deployOf(t, logPath, source)
	steps := []string{
		step("deploy commit", began, svc.deployed, true) + fmt.Sprintf(" (the deploy took %.2fs)", svc.took.Seconds()),
		step("reconcile request", began, svc.request, true),
	}
	for _, m := range marks {
		value := svc.deploy
		if m.resource == deployments {
			value = fmt.Sprintf("RELEASE=%d", n)
		}
		at, ok := tl.at(m.name, value)
		steps = append(steps, step(m.name, began, at, ok))
	}
	steps = append(steps, step("live on the page", began, shown, true)+" ("+page+")")
	t.Logf("push %d: %s", n, strings.Join(steps, ", "))
}
