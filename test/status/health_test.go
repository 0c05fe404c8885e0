package status_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"

	"github.com/slipway-gitops/slipway/watch"
)

// knativeServices is Knative's Service: a plugin kind named like the core
// one.
var knativeServices = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}

// knativeCRD defines knativeServices, any spec and status allowed.
const knativeCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: services.serving.knative.dev}
spec:
  group: serving.knative.dev
  names: {kind: Service, listKind: ServiceList, plural: services, singular: service, shortNames: [ksvc]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// sampleUntil reads the records of workflows every 100 ms, as a reader
// polling /api/status would, judges every sample with bad (a non-empty
// answer fails the test) and stops once done holds for the last samples.
func (f *fluxStack) sampleUntil(t *testing.T, workflows []string, bad func(*watch.WorkflowStatus) string, done func(map[string]*watch.WorkflowStatus) bool) int {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	samples := 0
	for {
		last := map[string]*watch.WorkflowStatus{}
		for _, wf := range workflows {
			ws := record(t, f.st, wf)
			last[wf] = ws
			if ws == nil {
				continue
			}
			samples++
			if why := bad(ws); why != "" {
				b, _ := json.MarshalIndent(ws, "", "  ")
				t.Fatalf("sample %d: %s:\n%s", samples, why, b)
			}
		}
		if done(last) {
			return samples
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("not done after %d samples; last:\n%s", samples, b)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-tick.C:
		}
	}
}

// degraded names what of a workflow's status is Degraded or Failed, ""
// for nothing.
func degraded(ws *watch.WorkflowStatus) string {
	if ws.Health == watch.Degraded || ws.Sync.State == watch.Failed {
		return fmt.Sprintf("workflow %s is %s, sync %s: %s", ws.Name, ws.Health, ws.Sync.State, ws.Reason)
	}
	for _, n := range ws.Nodes {
		if n.Health == watch.Degraded {
			return fmt.Sprintf("node %s of %s is Degraded: %s", n.ID, ws.Name, n.Reason)
		}
	}
	return ""
}

// object returns the object of a kind and group on a node, nil when
// there is none.
func object(ws *watch.WorkflowStatus, node, group, kind string) *watch.Object {
	for _, n := range ws.Nodes {
		for i, o := range n.Objects {
			if n.ID == node && o.Group == group && o.Kind == kind {
				return &n.Objects[i]
			}
		}
	}
	return nil
}

func TestHealth(t *testing.T) {
	f := startFlux(t)
	ctx := t.Context()

	t.Run("a first deploy is never Degraded while it rolls out", func(t *testing.T) {
		// From before Flux applies anything until both workflows run:
		// pods pending, Deployments unavailable, Services without
		// endpoints, the Job running and jobs waiting for web.
		var seen []string
		samples := f.sampleUntil(t, []string{"web", "jobs"}, func(ws *watch.WorkflowStatus) string {
			if s := ws.Name + " " + ws.Sync.State + "/" + string(ws.Health); !slices.Contains(seen, s) {
				seen = append(seen, s)
			}
			return degraded(ws)
		}, func(last map[string]*watch.WorkflowStatus) bool {
			for _, ws := range last {
				if ws == nil || ws.Sync.State != watch.Synced || ws.Health != watch.Healthy {
					return false
				}
			}
			return true
		})
		t.Logf("%d samples, none Degraded; states seen: %s", samples, strings.Join(seen, ", "))
	})

	t.Run("each node shows its figures", func(t *testing.T) {
		web, jobs := record(t, f.st, "web"), record(t, f.st, "jobs")
		dep := object(web, "web", "apps", "Deployment")
		if dep == nil || dep.Figures == nil || dep.Figures.ReadyReplicas == nil || dep.Figures.DesiredReplicas == nil ||
			*dep.Figures.ReadyReplicas != *dep.Figures.DesiredReplicas || *dep.Figures.DesiredReplicas < 2 {
			t.Errorf("Deployment web's figures: %+v", dep)
		}
		svc := object(web, "svc", "", "Service")
		if svc == nil || svc.Figures == nil || svc.Figures.ClusterIP == "" || svc.Figures.ReadyEndpoints == nil {
			t.Errorf("Service web's figures: %+v", svc)
		}
		job := object(jobs, "migrate", "batch", "Job")
		if job == nil || job.Figures == nil || job.Figures.Succeeded == nil || *job.Figures.Succeeded != 1 {
			t.Errorf("Job migrate's figures: %+v", job)
		}
		hpa := object(web, "hpa", "autoscaling", "HorizontalPodAutoscaler")
		if hpa == nil || hpa.Figures == nil || hpa.Figures.DesiredReplicas == nil {
			t.Errorf("the autoscaler's figures: %+v", hpa)
		}
	})

	t.Run("a CronJob that has run shows no drift, and its workflow stays healthy", func(t *testing.T) {
		p := "workflows/jobs/base/cronjob-report.yaml"
		every := bytes.Replace(f.deployFile(t, p), []byte("schedule: 0 3 * * *"), []byte("schedule: '* * * * *'"), 1)
		commit := f.push(t, "Run the report every minute", map[string][]byte{p: every})
		cronJobs := f.Client.BatchV1().CronJobs("jobs")
		err := f.Poll(ctx, 3*time.Minute, func() (bool, error) {
			cj, err := cronJobs.Get(ctx, "report", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return cj.Status.LastSuccessfulTime != nil, nil
		})
		if err != nil {
			t.Fatalf("the CronJob did not run a Job to completion: %v", err)
		}
		runs, err := f.Client.BatchV1().Jobs("jobs").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=report"})
		if err != nil || len(runs.Items) == 0 {
			t.Fatalf("the CronJob's Jobs: %v, %v", runs, err)
		}
		// The run carries the workflow's labels, from the job template.
		if l := runs.Items[0].Labels; l["app.kubernetes.io/part-of"] != "jobs" {
			t.Fatalf("the run's labels %v lack the workflow's", l)
		}
		// A record that shows the run's success was computed with the
		// run's Job in the cluster.
		ws := waitRecord(t, f.Stack, f.st, "jobs", "jobs Synced on the new schedule after a run", func(ws *watch.WorkflowStatus) bool {
			cj := object(ws, "report", "batch", "CronJob")
			return ws.Sync.State == watch.Synced && ws.Sync.Live != nil && ws.Sync.Live.DeployCommit == commit &&
				cj != nil && cj.Figures != nil && cj.Figures.LastSuccess != ""
		})
		if !ws.Drift.Empty() || ws.Health != watch.Healthy {
			t.Errorf("after a run: %s %q, drift %+v", ws.Health, ws.Reason, ws.Drift)
		}
		for _, n := range ws.Nodes {
			for _, o := range n.Objects {
				if o.Kind == "Job" && o.Name != "migrate" {
					t.Errorf("the run %s is shown on node %q", o.Name, n.ID)
				}
			}
		}
	})

	t.Run("a plugin object gets its health from its conditions, matched by its group", func(t *testing.T) {
		if err := f.Apply(ctx, []byte(knativeCRD)); err != nil {
			t.Fatal(err)
		}
		dc, err := discovery.NewDiscoveryClientForConfig(f.Config)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Poll(ctx, time.Minute, func() (bool, error) {
			list, err := dc.ServerResourcesForGroupVersion(knativeServices.GroupVersion().String())
			return err == nil && slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "services" }), nil
		}); err != nil {
			t.Fatalf("Knative's Service is not served: %v", err)
		}
		// A plugin node's object, named as web's core Service is.
		dir := "workflows/web/base/"
		k := f.deployFile(t, dir+"kustomization.yaml")
		commit := f.push(t, "Add a Knative Service", map[string][]byte{
			dir + "service-kn.yaml": []byte(`apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: web
  annotations: {slipway.dev/node-id: kn}
  labels: {app.kubernetes.io/managed-by: slipway, app.kubernetes.io/part-of: web}
spec:
  template: {spec: {containers: [{image: "nginx:1.27"}]}}
`),
			dir + "kustomization.yaml": bytes.Replace(k, []byte("resources:\n"), []byte("resources:\n- service-kn.yaml\n"), 1),
		})
		kn := func(ws *watch.WorkflowStatus) *watch.Object {
			return object(ws, "kn", knativeServices.Group, "Service")
		}
		ws := waitRecord(t, f.Stack, f.st, "web", "the Knative Service watched", func(ws *watch.WorkflowStatus) bool {
			return ws.Sync.Live != nil && ws.Sync.Live.DeployCommit == commit && kn(ws) != nil
		})
		if !ws.Drift.Empty() || nodeHealth(ws, "svc") != watch.Healthy || kn(ws).Health != watch.Healthy {
			t.Errorf("with a Knative Service named web: drift %+v, core Service %s, Knative's %+v", ws.Drift, nodeHealth(ws, "svc"), kn(ws))
		}
		setConditions := func(t *testing.T, conditions string) {
			t.Helper()
			patch := fmt.Appendf(nil, `{"status":{"conditions":%s}}`, conditions)
			if _, err := f.dyn.Resource(knativeServices).Namespace("web").Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, step := range []struct {
			name, conditions string
			want             watch.Health
			reason           string
		}{
			{"not ready is progress", `[{"type":"Ready","status":"False","reason":"RevisionMissing","message":"waiting for a revision"}]`, watch.Progressing, "waiting for a revision"},
			{"stalled fails", `[{"type":"Stalled","status":"True","reason":"RevisionFailed","message":"the image cannot be pulled"},{"type":"Ready","status":"False"}]`, watch.Degraded, "the image cannot be pulled"},
			{"ready is healthy", `[{"type":"Ready","status":"True","reason":"Ready"}]`, watch.Healthy, ""},
		} {
			t.Run(step.name, func(t *testing.T) {
				setConditions(t, step.conditions)
				ws := waitRecord(t, f.Stack, f.st, "web", "the Knative Service "+string(step.want), func(ws *watch.WorkflowStatus) bool {
					o := kn(ws)
					return o != nil && o.Health == step.want
				})
				if o := kn(ws); o.Reason != step.reason || !ws.Drift.Empty() {
					t.Errorf("Knative Service %+v, drift %+v; want reason %q", o.Result, ws.Drift, step.reason)
				}
			})
		}
	})
}
