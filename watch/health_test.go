package watch

import (
	"encoding/json"
	"reflect"
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
metadata: {name: web, generation: 1}
spec: {rules: [{host: shop.example.com}]}
status: {loadBalancer: {ingress: [{ip: 10.0.0.1}]}}`, Result{Healthy, ""}},
		// No ingress controller assigns an address on many clusters;
		// kstatus calls it current, and so it is.
		{"ingress without address", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, generation: 1}
spec: {rules: [{host: shop.example.com}]}
status: {loadBalancer: {}}`, Result{Healthy, ""}},
		{"network policy", `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, generation: 1}
spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress]}`, Result{Healthy, ""}},
		{"hpa scaling", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
status:
  currentReplicas: 2
  desiredReplicas: 3
  conditions:
  - {type: AbleToScale, status: "True", reason: SucceededRescale}
  - {type: ScalingActive, status: "True", reason: ValidMetricFound}`, Result{Healthy, ""}},
		// Right after a rollout, or without a metrics server, an
		// autoscaler has no metrics: it keeps the replicas there are.
		{"hpa without metrics", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
status:
  conditions:
  - {type: AbleToScale, status: "True", reason: SucceededGetScale}
  - {type: ScalingActive, status: "False", reason: FailedGetResourceMetric, message: no metrics returned}`,
			Result{Healthy, "not scaling: FailedGetResourceMetric: no metrics returned"}},
		{"hpa without a target", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
status:
  conditions:
  - {type: AbleToScale, status: "False", reason: FailedGetScale, message: deployments/scale.apps "api" not found}
  - {type: ScalingActive, status: "False", reason: ScalingDisabled}`,
			Result{Degraded, "AbleToScale is false: FailedGetScale: deployments/scale.apps \"api\" not found"}},
		{"hpa not reported", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}`, Result{Progressing, "the autoscaler has not reported AbleToScale yet"}},
		{"job complete", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, parallelism: 1}
status: {startTime: "2026-11-29T02:00:00Z", succeeded: 1, conditions: [{type: Complete, status: "True"}]}`, Result{Healthy, ""}},
		{"job failed", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, parallelism: 1, backoffLimit: 6}
status: {startTime: "2026-11-29T02:00:00Z", failed: 6, conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]}`,
			Result{Degraded, "Job Failed. failed: 6/1"}},
		{"job running", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status: {startTime: "2026-11-29T02:00:00Z", active: 1}`, Result{Healthy, ""}},
		{"job not started", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}`, Result{Progressing, "Job not started"}},
		// kstatus waits for a suspended Job to start, which it never does.
		{"job suspended", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {suspend: true}
status: {conditions: [{type: Suspended, status: "True", reason: JobSuspended}]}`, Result{Healthy, "suspended"}},
		// A CronJob's runs are Jobs it owns; its own health is kstatus's.
		{"cronjob never scheduled", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {schedule: "0 2 * * *"}`, Result{Healthy, ""}},
		{"cronjob last run failed", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
status: {lastScheduleTime: "2026-11-29T02:00:00Z", lastSuccessfulTime: "2026-11-28T02:00:05Z"}`, Result{Healthy, ""}},
		{"pvc bound", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Bound, capacity: {storage: 10Gi}}`, Result{Healthy, ""}},
		{"pvc pending", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Pending}`, Result{Progressing, "PVC is not Bound. phase: Pending"}},
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
		// A first deploy: no pod is available yet, and the deadline has
		// not passed.
		{"deployment first deploy unavailable", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 2, progressDeadlineSeconds: 600}
status:
  observedGeneration: 1
  replicas: 2
  updatedReplicas: 2
  unavailableReplicas: 2
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable, message: Deployment does not have minimum availability.}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated, message: ReplicaSet "web-5d9c7b" is progressing.}`,
			Result{Progressing, "Available: 0/2"}},
		// A Recreate rollout stops every old pod before it starts the
		// new ones.
		{"deployment recreate rollout", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, generation: 4}
spec: {replicas: 1, strategy: {type: Recreate}, progressDeadlineSeconds: 600}
status:
  observedGeneration: 4
  replicas: 1
  updatedReplicas: 1
  unavailableReplicas: 1
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated}`, Result{Progressing, "Available: 0/1"}},
		{"deployment past its deadline", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 2, progressDeadlineSeconds: 600}
status:
  observedGeneration: 1
  replicas: 2
  updatedReplicas: 2
  unavailableReplicas: 2
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable}
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: ReplicaSet "web-5d9c7b" has timed out progressing.}`,
			Result{Degraded, "Progress deadline exceeded"}},
		{"deployment rolling out", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 2}
status: {observedGeneration: 2}`, Result{Progressing, "Deployment generation is 3, but latest observed generation is 2"}},
		{"statefulset starting", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 1}
spec: {replicas: 1}
status: {observedGeneration: 1, replicas: 1, currentReplicas: 1, updatedReplicas: 1}`, Result{Progressing, "Ready: 0/1"}},
		// A Service is what kstatus says of it; its ready endpoints are a
		// figure (a one-replica database restarts without failing).
		{"service without ready endpoints", `
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {type: ClusterIP, clusterIP: 10.96.0.12, selector: {app: db}, ports: [{port: 5432}]}`, Result{Healthy, ""}},
		{"load balancer without a cluster ip", `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, selector: {app: web}}`, Result{Progressing, "ClusterIP not set. Service type: LoadBalancer"}},
		{"configmap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}`, Result{Healthy, ""}},
		{"being deleted", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, deletionTimestamp: "2026-11-29T10:00:00Z"}`, Result{Progressing, "being deleted"}},
		// Plugin objects: kstatus reads their Ready, Reconciling and
		// Stalled conditions.
		{"plugin ready", `
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg, generation: 2}
status: {observedGeneration: 2, conditions: [{type: Ready, status: "True", reason: ClusterIsReady}]}`, Result{Healthy, ""}},
		{"plugin not ready", `
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg, generation: 2}
status: {observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: ClusterIsNotReady, message: waiting for instances}]}`,
			Result{Progressing, "waiting for instances"}},
		{"plugin stalled", `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: tls, generation: 1}
status: {observedGeneration: 1, conditions: [{type: Stalled, status: "True", reason: InvalidIssuer, message: issuer not found}, {type: Ready, status: "False"}]}`,
			Result{Degraded, "issuer not found"}},
		{"plugin not observed", `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: tls, generation: 2}
status: {observedGeneration: 1, conditions: [{type: Ready, status: "True"}]}`,
			Result{Progressing, "Certificate generation is 2, but latest observed generation is 1"}},
		// Knative's Service is judged by its conditions, never as a
		// core Service.
		{"knative service not ready", `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: web, generation: 1}
spec: {template: {spec: {containers: [{image: nginx}]}}}
status: {observedGeneration: 1, conditions: [{type: Ready, status: "False", reason: RevisionMissing, message: Configuration "web" is waiting for a Revision to become ready.}]}`,
			Result{Progressing, "Configuration \"web\" is waiting for a Revision to become ready."}},
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

func TestFiguresOf(t *testing.T) {
	t.Parallel()
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name  string
		doc   string
		ready int
		want  *Figures
		// summary is what the status page shows.
		summary string
	}{
		{"deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 3}
status: {replicas: 3, readyReplicas: 2}`, -1, &Figures{ReadyReplicas: n(2), DesiredReplicas: n(3)}, "2/3 ready"},
		{"deployment without replicas or status", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}`, -1, &Figures{ReadyReplicas: n(0), DesiredReplicas: n(1)}, "0/1 ready"},
		{"daemonset", `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
status: {desiredNumberScheduled: 4, numberReady: 3}`, -1, &Figures{ReadyReplicas: n(3), DesiredReplicas: n(4)}, "3/4 ready"},
		{"hpa", `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec: {minReplicas: 2, maxReplicas: 10}
status: {currentReplicas: 2, desiredReplicas: 5}`, -1, &Figures{CurrentReplicas: n(2), DesiredReplicas: n(5)}, "2 → 5 replicas"},
		{"node port service", `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{port: 80, nodePort: 30080}, {port: 443, nodePort: 30443}]`, 2,
			&Figures{ClusterIP: "10.96.0.10", NodePorts: []int64{30080, 30443}, ReadyEndpoints: n(2)}, "10.96.0.10 :30080 :30443 · 2 ready endpoints"},
		{"load balancer service", `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, clusterIP: 10.96.0.11, externalIPs: [192.0.2.7], selector: {app: web}, ports: [{port: 80, nodePort: 31000}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.5}, {hostname: lb.example.com}]}}`, 0,
			&Figures{ClusterIP: "10.96.0.11", NodePorts: []int64{31000}, ExternalIPs: []string{"192.0.2.7", "203.0.113.5", "lb.example.com"}, ReadyEndpoints: n(0)}, "10.96.0.11 :31000 · external 192.0.2.7, 203.0.113.5, lb.example.com · 0 ready endpoints"},
		{"external name service", `
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {type: ExternalName, externalName: db.example.com}`, 0, &Figures{}, ""},
		{"ingress", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {ingress: [{ip: 10.0.0.1}]}}`, -1, &Figures{Addresses: []string{"10.0.0.1"}}, "at 10.0.0.1"},
		{"ingress without address", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {}}`, -1, nil, ""},
		{"pvc", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {resources: {requests: {storage: 10Gi}}}
status: {phase: Bound, capacity: {storage: 10Gi}}`, -1, &Figures{Capacity: "10Gi", Phase: "Bound"}, "10Gi Bound"},
		{"job", `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status: {succeeded: 1, failed: 2}`, -1, &Figures{Succeeded: n(1), Failed: n(2)}, "1 succeeded, 2 failed"},
		{"cronjob that ran", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {schedule: "0 2 * * *"}
status: {lastScheduleTime: "2026-11-29T02:00:00Z", lastSuccessfulTime: "2026-11-29T02:00:05Z"}`, -1,
			&Figures{LastSchedule: "2026-11-29T02:00:00Z", LastSuccess: "2026-11-29T02:00:05Z"},
			"last scheduled 2026-11-29T02:00:00Z · last succeeded 2026-11-29T02:00:05Z"},
		{"cronjob never scheduled", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {schedule: "0 2 * * *"}`, -1, nil, ""},
		{"configmap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}`, -1, nil, ""},
		{"knative service", `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: web}
status: {url: http://web.shop.example.com}`, -1, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := FiguresOf(object(t, tc.doc), tc.ready)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FiguresOf = %s, want %s", figuresJSON(t, got), figuresJSON(t, tc.want))
			}
			if s := got.Summary(); s != tc.summary {
				t.Errorf("Summary = %q, want %q", s, tc.summary)
			}
		})
	}
}

func figuresJSON(t *testing.T, f *Figures) string {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRollup(t *testing.T) {
	t.Parallel()
	objs := []Object{
		{Kind: "Service", Name: "web", Node: "svc", Result: Result{Healthy, ""}},
		{Kind: "Deployment", Name: "web", Node: "web", Result: Result{Degraded, "Progress deadline exceeded"}},
		{Kind: "ConfigMap", Name: "cfg", Node: "web", Result: Result{Progressing, "x"}},
	}
	tests := []struct {
		name string
		objs []Object
		want Result
	}{
		{"worst wins with its object named", objs, Result{Degraded, "Deployment web: Progress deadline exceeded"}},
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
