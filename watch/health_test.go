package watch

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("%v in\n%s", err, doc)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("%v in\n%s", err, doc)
	}
	return u
}

func TestCompute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want Result
	}{
		{"ingress with address", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {ingress: [{ip: 10.0.0.1}]}}`, Result{Healthy, ""}},
		{"ingress without address", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {}}`, Result{Progressing, "no address assigned yet"}},
		{"hpa scaling", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
status:
  conditions:
  - {type: AbleToScale, status: "True"}
  - {type: ScalingActive, status: "True"}`, Result{Healthy, ""}},
		{"hpa without metrics", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
status:
  conditions:
  - {type: AbleToScale, status: "True"}
  - {type: ScalingActive, status: "False", reason: FailedGetResourceMetric, message: no metrics returned}`,
			Result{Degraded, "ScalingActive is false: FailedGetResourceMetric: no metrics returned"}},
		{"hpa not reported", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}`, Result{Progressing, "the autoscaler has not reported AbleToScale yet"}},
		{"job complete", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status: {succeeded: 1, conditions: [{type: Complete, status: "True"}]}`, Result{Healthy, "succeeded"}},
		{"job failed", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status: {failed: 6, conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]}`,
			Result{Degraded, "failed: BackoffLimitExceeded: Job has reached the specified backoff limit"}},
		{"job running", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status: {active: 1}`, Result{Progressing, "running"}},
		{"cronjob never scheduled", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {schedule: "0 2 * * *"}`, Result{Healthy, "not scheduled yet"}},
		{"cronjob last run failed", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
status: {lastScheduleTime: "2026-11-29T02:00:00Z", lastSuccessfulTime: "2026-11-28T02:00:05Z"}`,
			Result{Degraded, "the job scheduled 2026-11-29T02:00:00Z did not succeed"}},
		{"cronjob last run succeeded", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
status: {lastScheduleTime: "2026-11-29T02:00:00Z", lastSuccessfulTime: "2026-11-29T02:00:05Z"}`,
			Result{Healthy, "last run succeeded 2026-11-29T02:00:05Z"}},
		{"cronjob running", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
status: {lastScheduleTime: "2026-11-29T02:00:00Z", active: [{name: nightly-1}]}`,
			Result{Healthy, "running, scheduled 2026-11-29T02:00:00Z"}},
		{"pvc bound", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Bound}`, Result{Healthy, ""}},
		{"pvc pending", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Pending}`, Result{Progressing, "not bound yet"}},
		{"pvc lost", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Lost}`, Result{Degraded, "its volume is lost"}},
		{"deployment available", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 2}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions:
  - {type: Available, status: "True"}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable}`, Result{Healthy, ""}},
		{"deployment unavailable", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  replicas: 2
  unavailableReplicas: 2
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable, message: Deployment does not have minimum availability.}`,
			Result{Degraded, "not available: MinimumReplicasUnavailable: Deployment does not have minimum availability."}},
		{"deployment rolling out", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 2}
status: {observedGeneration: 2}`, Result{Progressing, "Deployment generation is 3, but latest observed generation is 2"}},
		{"configmap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}`, Result{Healthy, ""}},
		{"being deleted", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, deletionTimestamp: "2026-11-29T10:00:00Z"}`, Result{Progressing, "being deleted"}},
		{"git repository ready", `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: slipway, namespace: slipway}
status: {conditions: [{type: Ready, status: "True", reason: Succeeded, message: "stored artifact for revision 'deploy@sha1:aaa'"}]}`, Result{Healthy, ""}},
		{"git repository failing to fetch", `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: slipway, namespace: slipway}
status: {conditions: [{type: Ready, status: "False", reason: GitOperationFailed, message: "failed to checkout and determine revision"}]}`,
			Result{Degraded, "fetch failed (GitOperationFailed): failed to checkout and determine revision"}},
		{"git repository suspended", `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: slipway, namespace: slipway}
spec: {suspend: true}
status: {conditions: [{type: Ready, status: "True", reason: Succeeded}]}`, Result{Suspended, "suspended: Flux applies nothing until it is resumed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Compute(object(t, tc.doc)); got != tc.want {
				t.Errorf("Compute = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestServiceHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		doc   string
		ready int
		want  Result
	}{
		{"selector with endpoints", `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}}`, 2, Result{Healthy, ""}},
		{"selector without endpoints", `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}}`, 0, Result{Degraded, "no ready endpoints for its selector"}},
		{"no selector", `
apiVersion: v1
kind: Service
metadata: {name: external}
spec: {ports: [{port: 80}]}`, 0, Result{Healthy, ""}},
		{"external name", `
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {type: ExternalName, externalName: db.example.com, selector: {app: db}}`, 0, Result{Healthy, ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ServiceHealth(object(t, tc.doc), tc.ready); got != tc.want {
				t.Errorf("ServiceHealth = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRollup(t *testing.T) {
	t.Parallel()
	objs := []Object{
		{Kind: "Service", Name: "web", Node: "svc", Result: Result{Healthy, ""}},
		{Kind: "Deployment", Name: "web", Node: "web", Result: Result{Degraded, "not available"}},
		{Kind: "ConfigMap", Name: "cfg", Node: "web", Result: Result{Progressing, "x"}},
	}
	tests := []struct {
		name string
		objs []Object
		want Result
	}{
		{"worst wins with its object named", objs, Result{Degraded, "Deployment web: not available"}},
		{"healthy has no reason", objs[:1], Result{Healthy, ""}},
		{"nothing seen", nil, Result{Unknown, "no objects seen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Rollup(tc.objs); got != tc.want {
				t.Errorf("Rollup = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("nodes", func(t *testing.T) {
		t.Parallel()
		nodes := Nodes(objs)
		if len(nodes) != 2 || nodes[0].ID != "svc" || nodes[1].ID != "web" || nodes[1].Health != Degraded || nodes[1].Objects[0].Kind != "ConfigMap" {
			t.Errorf("Nodes = %+v", nodes)
		}
	})
}

func TestPodOwnerPrefixes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ pod, want string }{
		{"web-5d9c7b-x2x4z", "web-5d9c7b- web-"},
		{"db-0", "db-"},
		{"single", ""},
	} {
		t.Run(tc.pod, func(t *testing.T) {
			t.Parallel()
			var got []string
			for p := range podOwnerPrefixes(tc.pod) {
				got = append(got, p)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("prefixes = %q, want %q", s, tc.want)
			}
		})
	}
}
