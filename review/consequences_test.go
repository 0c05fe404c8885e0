package review

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/source"
)

// TestConsequences reviews, for each kind of consequence, a change to the
// fixture repository that has it, and one that has none: the lines are
// "kind workflow node field pointer: message".
func TestConsequences(t *testing.T) {
	t.Parallel()
	const (
		shop     = "workflows/shop.json"
		database = "workflows/database.json"
		batch    = "workflows/batch.json"
	)
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, base, head source.Files)
		want []string
		// rolls, when set, are the workloads whose pod template changes.
		rolls []string
	}{
		{
			name: "none",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, shop, testutil.Set("/nodes/3/data/replicas", 4))
			},
		},
		{
			name: "volume claim templates",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, database, testutil.Set("/nodes/0/data/volumeClaimTemplates/0/storage", "20Gi"))
			},
			want: []string{
				"immutable database postgres spec.volumeClaimTemplates /nodes/0/data/volumeClaimTemplates: statefulset postgres: volumeClaimTemplates changed — immutable; Flux will stop applying workflow database until this is reverted",
			},
		},
		{
			name: "service name",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, database, testutil.Set("/nodes/0/data/serviceName", "pg"))
			},
			want: []string{
				"prune database postgres  /nodes/0/data/serviceName: service postgres-headless: leaves the deploy branch — Flux deletes it from namespace database",
				"immutable database postgres spec.serviceName /nodes/0/data/serviceName: statefulset postgres: serviceName changed — immutable; Flux will stop applying workflow database until this is reverted",
			},
		},
		{
			name: "service turned headless",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, shop, testutil.Set("/nodes/1/data/headless", true))
			},
			want: []string{
				"immutable shop svc-web spec.clusterIP /nodes/1/data/headless: service web: turned headless (clusterIP: None) — clusterIP is immutable; Flux will stop applying workflow shop until this is reverted or the Service is re-created",
			},
		},
		{
			name: "service no longer headless",
			edit: func(t *testing.T, base, _ source.Files) {
				patched(t, base, shop, testutil.Set("/nodes/1/data/headless", true))
			},
			want: []string{
				"immutable shop svc-web spec.clusterIP /nodes/1/data/headless: service web: no longer headless — clusterIP cannot change once set; the Service stays headless until it is re-created",
			},
		},
		{
			name: "claim storage class, access modes and size",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, shop,
					testutil.Set("/nodes/8/data/storageClassName", "slow"),
					testutil.Set("/nodes/8/data/accessModes", []any{"ReadWriteOnce"}),
					testutil.Set("/nodes/8/data/storage", "1Gi"))
			},
			want: []string{
				"immutable shop pvc-uploads spec.accessModes /nodes/8/data/accessModes: persistentvolumeclaim uploads: accessModes changed — immutable; Flux will stop applying workflow shop until this is reverted",
				"immutable shop pvc-uploads spec.storageClassName /nodes/8/data/storageClassName: persistentvolumeclaim uploads: storageClassName changed — immutable; Flux will stop applying workflow shop until this is reverted",
				"immutable shop pvc-uploads spec.resources.requests.storage /nodes/8/data/storage: persistentvolumeclaim uploads: storage shrinks from 5Gi to 1Gi — a claim cannot shrink; Flux will stop applying workflow shop until this is reverted",
			},
		},
		{
			name: "adopt removed",
			edit: func(t *testing.T, base, _ source.Files) {
				patched(t, base, "clusters/prod.json", testutil.Set("/adopt", "kubeorch"))
			},
			want: []string{
				"immutable database postgres spec.selector /nodes/0: statefulset postgres: selector changed — immutable; Flux will stop applying workflow database until this is reverted",
				"immutable shop api spec.selector /nodes/4: deployment api: selector changed — immutable; Flux will stop applying workflow shop until this is reverted",
				"immutable shop web spec.selector /nodes/3: deployment web: selector changed — immutable; Flux will stop applying workflow shop until this is reverted",
			},
		},
		{
			name: "workflow renamed",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, batch, testutil.Set("/name", "reports"))
				head["workflows/reports.json"] = head[batch]
				delete(head, batch)
			},
			want: []string{
				"prune batch   : kustomization batch: leaves the deploy branch — Flux deletes it from namespace flux-system",
				"immutable reports agent spec.selector /nodes/2: daemonset log-agent: selector changed — immutable; Flux will stop applying workflow reports until this is reverted",
				"job-rerun reports migrate spec.template /nodes/0: job migrate: pod template changed — immutable, so Flux deletes and re-creates the Job (kustomize.toolkit.fluxcd.io/force: enabled) and it runs again",
			},
		},
		{
			name: "job pod template",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, batch, testutil.Set("/nodes/0/data/image", "busybox:1.37"))
			},
			want: []string{
				"job-rerun batch migrate spec.template /nodes/0/data/image: job migrate: pod template changed — immutable, so Flux deletes and re-creates the Job (kustomize.toolkit.fluxcd.io/force: enabled) and it runs again",
			},
		},
		{
			// On a cluster that adopts KubeOrch's objects a Job is applied
			// only if missing: the one that ran is not run again.
			name: "job pod template on an adopting cluster",
			edit: func(t *testing.T, base, head source.Files) {
				patched(t, base, "clusters/staging.json", testutil.Set("/adopt", "kubeorch"))
				patched(t, head, "clusters/staging.json", testutil.Set("/adopt", "kubeorch"))
				patched(t, head, batch, testutil.Set("/nodes/0/data/image", "busybox:1.37"))
			},
			want: []string{
				"kept batch migrate spec.template /nodes/0/data/image: job migrate: pod template changed — Flux creates this Job only where it is missing (kustomize.toolkit.fluxcd.io/ssa: IfNotPresent), so the Job that exists stays as it ran; delete it to run the new one",
			},
		},
		{
			// The compiler keeps the count and the Kustomization leaves it
			// to the HPA: nothing scales to 1.
			name: "replicas to a drawn hpa",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, shop,
					testutil.Set("/nodes/-", map[string]any{"id": "hpa-web", "type": "hpa", "position": map[string]any{"x": 0, "y": 0},
						"data": map[string]any{"name": "web", "minReplicas": 2, "maxReplicas": 6, "targetCPUUtilization": 80}}),
					testutil.Set("/edges/-", map[string]any{"id": "e11", "source": "hpa-web", "target": "web"}))
			},
		},
		{
			// An HPA rendered by a plugin node is no link: the count the
			// node drops is dropped from what Flux applies.
			name: "replicas to a plugin hpa",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, shop,
					testutil.Del("/nodes/3/data/replicas"),
					testutil.Set("/nodes/-", map[string]any{"id": "hpa-web", "type": "plugin", "position": map[string]any{"x": 0, "y": 0},
						"data": map[string]any{"name": "web", "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
							"_pluginFields":  []any{map[string]any{"id": "scaleTargetRef", "type": "object"}, map[string]any{"id": "maxReplicas", "type": "number"}},
							"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 6}}))
			},
			want: []string{
				"replicas-to-hpa shop web spec.replicas /nodes/3/data/replicas: deployment web: replicas (2) handed to hpa web — the applied object drops spec.replicas and Kubernetes sets 1 until the HPA acts (kubernetes#67135)",
			},
		},
		{
			// The config hash on the pod template of web changes with the
			// data: the pods roll out.
			name: "config edit rolls out",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, shop, testutil.Set("/nodes/5/data/data/enabled", "false"))
			},
			rolls: []string{"deployment web"},
		},
		{
			name: "node removed",
			edit: func(t *testing.T, _, head source.Files) {
				wf := testutil.LoadJSON(t, filepath.Join(fixtureRepo, shop)).(map[string]any)
				wf["nodes"] = slices.DeleteFunc(wf["nodes"].([]any), func(n any) bool { return n.(map[string]any)["id"] == "np-api" })
				wf["edges"] = slices.DeleteFunc(wf["edges"].([]any), func(e any) bool { return e.(map[string]any)["source"] == "np-api" })
				head[shop] = testutil.Marshal(t, wf)
			},
			want: []string{
				"prune shop np-api  : networkpolicy api-ingress: leaves the deploy branch — Flux deletes it from namespace shop",
			},
		},
		{
			name: "workflow archived",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, batch, testutil.Set("/status", "archived"))
			},
			want: []string{
				"prune batch cert  /status: certificate batch-tls: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch cm-report  /status: configmap report-query: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch report  /status: cronjob nightly-report: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch agent  /status: daemonset log-agent: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch migrate  /status: job migrate: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch   /status: kustomization batch: leaves the deploy branch — Flux deletes it from namespace flux-system",
				"kept batch   /status: namespace batch-jobs: leaves the deploy branch; Flux keeps it in the cluster (prune disabled) — delete it by hand when it is no longer needed",
				"prune batch np-batch  /status: networkpolicy batch-deny-ingress: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"kept batch pvc-work  /status: persistentvolumeclaim migrate-work: leaves the deploy branch; Flux keeps it in namespace batch-jobs (prune disabled) — delete it by hand when it is no longer needed",
			},
		},
		{
			name: "namespace changed",
			edit: func(t *testing.T, _, head source.Files) {
				patched(t, head, batch, testutil.Set("/namespace", "reports"))
			},
			want: []string{
				"prune batch cert  /namespace: certificate batch-tls: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch cm-report  /namespace: configmap report-query: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch report  /namespace: cronjob nightly-report: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch agent  /namespace: daemonset log-agent: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"prune batch migrate  /namespace: job migrate: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"kept batch   /namespace: namespace batch-jobs: leaves the deploy branch; Flux keeps it in the cluster (prune disabled) — delete it by hand when it is no longer needed",
				"prune batch np-batch  /namespace: networkpolicy batch-deny-ingress: leaves the deploy branch — Flux deletes it from namespace batch-jobs",
				"kept batch pvc-work  /namespace: persistentvolumeclaim migrate-work: leaves the deploy branch; Flux keeps it in namespace batch-jobs (prune disabled) — delete it by hand when it is no longer needed",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, head := fixtureSource(t), fixtureSource(t)
			tc.edit(t, base, head)
			r, err := Compare(t.Context(), newCompiler(t), "base", "head", base, head)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) > 0 {
				t.Fatalf("the head does not validate: %v", r.Problems)
			}
			var got []string
			for _, c := range r.Consequences {
				got = append(got, fmt.Sprintf("%s %s %s %s %s: %s", c.Kind, c.Workflow, c.NodeID, c.Field, c.Pointer, c.Message))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("consequences differ (-want +got):\n%s", diff)
			}
			if tc.rolls == nil {
				return
			}
			var rolled []string
			for _, w := range r.Workflows {
				for _, o := range w.Objects {
					if slices.ContainsFunc(o.Fields, func(f FieldChange) bool { return strings.HasPrefix(f.Path, "spec.template.") }) {
						rolled = append(rolled, subject(o.ObjectID))
					}
				}
			}
			if diff := cmp.Diff(tc.rolls, rolled); diff != "" {
				t.Errorf("workloads whose pod template changes (-want +got):\n%s", diff)
			}
		})
	}
}
