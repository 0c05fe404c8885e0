package workflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeClusterTenancy checks a cluster file's account and namespace
// allow-list.
func TestDecodeClusterTenancy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want string // empty: accepted
	}{
		{"tenancy", `{"name": "prod", "flux": {"tenancy": true}, "allowedNamespaces": ["team-a-*", "shop", "[a-c]?"]}`, ""},
		{"one account", `{"name": "prod", "flux": {"serviceAccountName": "slipway-apply"}}`, ""},
		{"tenancy and one account", `{"name": "prod", "flux": {"tenancy": true, "serviceAccountName": "slipway-apply"}}`,
			`clusters/prod.json: /flux/tenancy: gives each workflow an account of its own; it cannot be set with serviceAccountName, one account for all (remove one of them)`},
		{"account not a name", `{"name": "prod", "flux": {"serviceAccountName": "Apply!"}}`,
			`clusters/prod.json: /flux/serviceAccountName: "Apply!" is invalid: a lowercase RFC 1123 subdomain`},
		{"malformed pattern", `{"name": "prod", "allowedNamespaces": ["shop", "team-[a"]}`,
			`clusters/prod.json: /allowedNamespaces/1: "team-[a" is not a namespace pattern (like team-a-* or shop)`},
		{"empty pattern", `{"name": "prod", "allowedNamespaces": [""]}`,
			`clusters/prod.json: /allowedNamespaces/0: "" is not a namespace pattern (like team-a-* or shop)`},
		{"tenancy not a boolean", `{"name": "prod", "flux": {"tenancy": "yes"}}`,
			`clusters/prod.json: /flux/tenancy: must be true or false, not a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeCluster("clusters/prod.json", []byte(tt.file))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("DecodeCluster: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("DecodeCluster: %v\nwant %q", err, tt.want)
			}
		})
	}
}

func mustCluster(t *testing.T, file string) *Cluster {
	t.Helper()
	var name struct{ Name string }
	if err := json.Unmarshal([]byte(file), &name); err != nil {
		t.Fatal(err)
	}
	cl, err := DecodeCluster(ClusterFile(name.Name), []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestAllowedNamespaces checks that a published workflow deploys only into
// a namespace its cluster allows, and that the error points at what sets
// the namespace: the workflow's namespace, its name, or the node that
// gave it one.
func TestAllowedNamespaces(t *testing.T) {
	t.Parallel()
	prod := mustCluster(t, `{"name": "prod", "default": true, "allowedNamespaces": ["team-a-*", "shop"]}`)
	open := mustCluster(t, `{"name": "open"}`)
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"matches a pattern", `{"name": "web", "status": "published", "namespace": "team-a-web", "nodes": [], "edges": []}`, nil},
		{"matches a name", `{"name": "shop", "status": "published", "nodes": [], "edges": []}`, nil},
		{"namespace refused", `{"name": "web", "status": "published", "namespace": "team-b", "nodes": [], "edges": []}`, []string{
			`workflows/web.json: /namespace: namespace "team-b" is not allowed on cluster "prod": it matches none of "team-a-*", "shop" in clusters/prod.json /allowedNamespaces`,
		}},
		{"name as namespace refused", `{"name": "billing", "status": "published", "nodes": [], "edges": []}`, []string{
			`workflows/billing.json: /name: namespace "billing" is not allowed on cluster "prod": it matches none of "team-a-*", "shop" in clusters/prod.json /allowedNamespaces`,
		}},
		{"node namespace refused", `{"name": "web", "status": "published", "nodes": [
			{"id": "cm", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "c", "namespace": "team-a"}}], "edges": []}`, []string{
			`workflows/web.json: /nodes/0/data/namespace: namespace "team-a" is not allowed on cluster "prod": it matches none of "team-a-*", "shop" in clusters/prod.json /allowedNamespaces (node "cm")`,
		}},
		{"draft not deployed", `{"name": "web", "status": "draft", "namespace": "team-b", "nodes": [], "edges": []}`, nil},
		{"cluster without a list", `{"name": "web", "status": "published", "cluster_id": "open", "namespace": "team-b", "nodes": [], "edges": []}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var name struct{ Name string }
			if err := json.Unmarshal([]byte(tt.file), &name); err != nil {
				t.Fatal(err)
			}
			w, err := Decode(WorkflowFile(name.Name), []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range AsErrors(CheckSet([]*Workflow{w}, []*Cluster{prod, open})) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CheckSet (-want +got):\n%s", diff)
			}
		})
	}
}
