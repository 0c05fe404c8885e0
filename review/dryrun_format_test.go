package review

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDryRunFormats writes the dry-run of two clusters as the pull
// request's comment and a terminal show it: each object that does not
// stay as it is, with the API server's message or the fields that
// change, and the note of a cluster that could not be dry-run.
func TestDryRunFormats(t *testing.T) {
	t.Parallel()
	id := func(kind, name string) ObjectID {
		return ObjectID{Cluster: "prod", APIVersion: "v1", Kind: kind, Namespace: "shop", Name: name}
	}
	dryRuns := []DryRun{
		{Cluster: "prod", Note: "1 object not dry-run: a cluster's dry-run stops after 6 objects", Objects: []DryRunObject{
			{ObjectID: id("StatefulSet", "db"), NodeID: "db", Outcome: Refused, Message: `StatefulSet.apps "db" is invalid: spec.volumeClaimTemplates: Invalid value: [...]: field is immutable`},
			{ObjectID: id("Job", "migrate"), NodeID: "migrate", Outcome: Recreated, Message: `Job.batch "migrate" is invalid: spec.template: Invalid value: ...: field is immutable`},
			{ObjectID: id("Role", "reader"), Outcome: NotAllowed, Message: `roles.rbac.authorization.k8s.io "reader" is forbidden: User "review" cannot patch resource "roles"`},
			{ObjectID: id("ConfigMap", "extra"), NodeID: "extra", Outcome: Created},
			{ObjectID: id("Secret", "auth"), NodeID: "auth", Outcome: Changed, Fields: []FieldChange{{Path: "data.password", Old: true, New: true, Masked: true}}},
			{ObjectID: id("Deployment", "web"), NodeID: "web", Outcome: Changed, Fields: []FieldChange{{Path: "spec.replicas", Old: int64(2), New: int64(3)}}},
			{ObjectID: id("Service", "web"), NodeID: "web", Outcome: Unchanged},
		}},
		{Cluster: "staging", Note: "not dry-run: the service has no kubeconfig context for this cluster"},
	}
	tests := []struct {
		name  string
		write func(*strings.Builder, []DryRun)
		want  string
	}{
		{"markdown", writeDryRunsMarkdown, "\n#### Dry-run against the clusters\n" +
			"\n**prod**: 7 objects: 1 refused, 1 recreated, 1 not-allowed, 1 created, 2 changed, 1 unchanged\n" +
			"\n_1 object not dry-run: a cluster's dry-run stops after 6 objects_\n\n" +
			"- `prod StatefulSet shop/db` (node `db`): refused by the API server — Flux's apply fails the same way and stops applying its Kustomization\n" +
			"  - `StatefulSet.apps \"db\" is invalid: spec.volumeClaimTemplates: Invalid value: [...]: field is immutable`\n" +
			"- `prod Job shop/migrate` (node `migrate`): a field cannot change in place — Flux deletes the object and creates it again (force)\n" +
			"  - `Job.batch \"migrate\" is invalid: spec.template: Invalid value: ...: field is immutable`\n" +
			"- `prod Role shop/reader`: dry-run not allowed: `roles.rbac.authorization.k8s.io \"reader\" is forbidden: User \"review\" cannot patch resource \"roles\"`\n" +
			"- `prod ConfigMap shop/extra` (node `extra`): created\n" +
			"- `prod Secret shop/auth` (node `auth`): changes\n" +
			"  - `data.password changed`\n" +
			"- `prod Deployment shop/web` (node `web`): changes\n" +
			"  - `spec.replicas: 2 → 3`\n" +
			"\n**staging**: not dry-run: the service has no kubeconfig context for this cluster\n"},
		{"text", writeDryRunsText, "\nDry-run against the clusters:\n" +
			"  prod: 7 objects: 1 refused, 1 recreated, 1 not-allowed, 1 created, 2 changed, 1 unchanged\n" +
			"    1 object not dry-run: a cluster's dry-run stops after 6 objects\n" +
			"    prod StatefulSet shop/db (node db): refused by the API server — Flux's apply fails the same way and stops applying its Kustomization\n" +
			"      StatefulSet.apps \"db\" is invalid: spec.volumeClaimTemplates: Invalid value: [...]: field is immutable\n" +
			"    prod Job shop/migrate (node migrate): a field cannot change in place — Flux deletes the object and creates it again (force)\n" +
			"      Job.batch \"migrate\" is invalid: spec.template: Invalid value: ...: field is immutable\n" +
			"    prod Role shop/reader: dry-run not allowed: roles.rbac.authorization.k8s.io \"reader\" is forbidden: User \"review\" cannot patch resource \"roles\"\n" +
			"    prod ConfigMap shop/extra (node extra): created\n" +
			"    prod Secret shop/auth (node auth): changes\n" +
			"      data.password changed\n" +
			"    prod Deployment shop/web (node web): changes\n" +
			"      spec.replicas: 2 → 3\n" +
			"  staging: not dry-run: the service has no kubeconfig context for this cluster\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			tt.write(&b, dryRuns)
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}
