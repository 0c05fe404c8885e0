package schemas_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/schemas"
	"github.com/slipway-gitops/slipway/workflow"
)

func compile(t *testing.T, id string, doc []byte) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(id, v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

func TestFixturesValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dir, id string }{
		{"workflows", schemas.WorkflowID},
		{"clusters", schemas.ClusterID},
	} {
		doc := schemas.Workflow
		if tc.id == schemas.ClusterID {
			doc = schemas.Cluster
		}
		s := compile(t, tc.id, doc)
		files, err := filepath.Glob(filepath.Join("../fixtures/repo", tc.dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in %s: %v", tc.dir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(t, s, b); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

// goFields returns the JSON field names of a Go struct type, with the
// fields of embedded structs.
func goFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "":
			out = append(out, goFields(f.Type)...)
		default:
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// schemaFields returns the property names a schema object defines, with
// those of the schemas its allOf references.
func schemaFields(defs map[string]any, s map[string]any) []string {
	seen := map[string]bool{}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		if ref, ok := s["$ref"].(string); ok {
			walk(defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any))
		}
		props, _ := s["properties"].(map[string]any)
		for k := range props {
			seen[k] = true
		}
		if all, ok := s["allOf"].([]any); ok {
			for _, a := range all {
				walk(a.(map[string]any))
			}
		}
	}
	walk(s)
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSchemaMatchesGoTypes holds the schema and the workflow package
// together: every field of every node kind, and of the workflow, node,
// edge and cluster, is in both or in neither.
func TestSchemaMatchesGoTypes(t *testing.T) {
	t.Parallel()
	wf := testutil.LoadJSON(t, "workflow.schema.json").(map[string]any)
	defs := wf["$defs"].(map[string]any)
	cl := testutil.LoadJSON(t, "cluster.schema.json").(map[string]any)
	cases := map[string]struct {
		schema map[string]any
		typ    reflect.Type
	}{
		"workflow": {wf, reflect.TypeFor[workflow.Workflow]()},
		"node":     {defs["node"].(map[string]any), reflect.TypeFor[workflow.Node]()},
		"edge":     {defs["edge"].(map[string]any), reflect.TypeFor[workflow.Edge]()},
		"cluster":  {cl, reflect.TypeFor[workflow.Cluster]()},
		// A workflow's flux and a cluster's differ: only the cluster
		// names the account Flux applies as.
		"workflow flux": {defs["fluxSettings"].(map[string]any), reflect.TypeFor[workflow.FluxSettings]()},
		"cluster flux":  {cl["properties"].(map[string]any)["flux"].(map[string]any), reflect.TypeFor[workflow.ClusterFlux]()},
	}
	for _, k := range workflow.Kinds {
		cases[string(k)] = struct {
			schema map[string]any
			typ    reflect.Type
		}{defs["data-"+string(k)].(map[string]any), reflect.TypeOf(workflow.NewSpec(k)).Elem()}
	}
	for name, c := range cases {
		got, want := schemaFields(defs, c.schema), goFields(c.typ)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema fields %v\ndiffer from Go fields %v", name, got, want)
		}
	}
	kinds := defs["node"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	if len(kinds) != len(workflow.Kinds) {
		t.Errorf("schema has %d node types, Go %d", len(kinds), len(workflow.Kinds))
	}
}

// TestSchemaAgreesWithDecode checks bad inputs against both validators.
// Every input is rejected by the compiler; those the schema can express
// are rejected by the schema too. The rest span nodes or need Kubernetes'
// own rules, which a schema cannot state.
func TestSchemaAgreesWithDecode(t *testing.T) {
	t.Parallel()
	s := compile(t, schemas.WorkflowID, schemas.Workflow)
	tests := []struct {
		name    string
		patches []testutil.Patch
		schema  bool // the schema rejects it too
	}{
		{"unknown top-level field", []testutil.Patch{testutil.Set("/owner_id", "x")}, true},
		{"bad status", []testutil.Patch{testutil.Set("/status", "live")}, true},
		{"missing status", []testutil.Patch{testutil.Del("/status")}, true},
		{"missing nodes", []testutil.Patch{testutil.Del("/nodes")}, true},
		{"unknown node type", []testutil.Patch{testutil.Set("/nodes/3/type", "pod")}, true},
		{"node without id", []testutil.Patch{testutil.Del("/nodes/3/id")}, true},
		{"unknown data field", []testutil.Patch{testutil.Set("/nodes/3/data/replicaCount", 2)}, true},
		{"unknown field of an embedded part", []testutil.Patch{testutil.Set("/nodes/3/data/resources/limits/gpu", "1")}, true},
		{"port out of range", []testutil.Patch{testutil.Set("/nodes/4/data/port", 70000)}, true},
		{"port as a word", []testutil.Patch{testutil.Set("/nodes/4/data/port", "http")}, true},
		{"fractional replicas", []testutil.Patch{testutil.Set("/nodes/3/data/replicas", 1.5)}, true},
		{"negative replicas", []testutil.Patch{testutil.Set("/nodes/3/data/replicas", -1)}, true},
		{"env value not a string", []testutil.Patch{testutil.Set("/nodes/4/data/env/PORT", true)}, true},
		{"missing image", []testutil.Patch{testutil.Del("/nodes/3/data/image")}, true},
		{"secret values", []testutil.Patch{testutil.Set("/nodes/7/data/data", map[string]any{"k": "v"})}, true},
		{"secret key value", []testutil.Patch{testutil.Set("/nodes/7/data/keys/0/value", "v")}, true},
		{"sopsFile outside secrets", []testutil.Patch{testutil.Set("/nodes/7/data/sopsFile", "workflows/shop.json")}, true},
		{"sopsFile of another secret", []testutil.Patch{testutil.Set("/nodes/7/data/sopsFile", "secrets/shop/other.sops.yaml")}, false},
		{"bad service type", []testutil.Patch{testutil.Set("/nodes/1/data/serviceType", "External")}, true},
		{"service name not DNS-1035", []testutil.Patch{testutil.Set("/nodes/1/data/name", "1web")}, true},
		{"bad path type", []testutil.Patch{testutil.Set("/nodes/0/data/paths/0/pathType", "Regex")}, true},
		{"relative ingress path", []testutil.Patch{testutil.Set("/nodes/0/data/paths/1/path", "api")}, true},
		{"empty pvc access modes", []testutil.Patch{testutil.Set("/nodes/8/data/accessModes", []any{})}, true},
		{"edge without target", []testutil.Patch{testutil.Del("/edges/0/target")}, true},
		{"name not DNS-1123", []testutil.Patch{testutil.Set("/nodes/3/data/name", "Web_App")}, false},
		{"bad image reference", []testutil.Patch{testutil.Set("/nodes/3/data/image", "Nginx:Latest!")}, false},
		{"bad quantity", []testutil.Patch{testutil.Set("/nodes/3/data/resources/limits/memory", "lots")}, false},
		{"hpa min above max", []testutil.Patch{testutil.Set("/nodes/9/data/minReplicas", 20)}, false},
		{"name differs from file", []testutil.Patch{testutil.Set("/name", "other")}, false},
		{"dangling edge", []testutil.Patch{testutil.Set("/edges/0/target", "nope")}, false},
		{"targetApp contradicts edge", []testutil.Patch{testutil.Set("/nodes/1/data/targetApp", "api")}, false},
		{"duplicate node id", []testutil.Patch{testutil.Set("/nodes/4/id", "web")}, false},
		{"credential in env", []testutil.Patch{testutil.Set("/nodes/4/data/env/DB_PASSWORD", "x")}, false},
		{"account in the workflow's flux", []testutil.Patch{testutil.Set("/flux", map[string]any{"serviceAccountName": "kustomize-controller"})}, true},
		{"emptyDir naming a node", []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "tmp", "mountPath": "/tmp", "nodeId": "cm-api"})}, true},
		{"emptyDir without a name", []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "mountPath": "/tmp"})}, true},
		{"mount without a node", []testutil.Patch{testutil.Del("/nodes/4/data/volumeMounts/0/nodeId")}, true},
		{"emptyDir name twice", []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "tmp", "mountPath": "/tmp"}), testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "tmp", "mountPath": "/cache"})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/repo/workflows/shop.json"), tt.patches...)
			data := testutil.Marshal(t, doc)
			if _, err := workflow.Decode("workflows/shop.json", data); err == nil {
				t.Errorf("workflow.Decode accepted it")
			}
			err := validate(t, s, data)
			if tt.schema && err == nil {
				t.Errorf("the schema accepted it")
			}
			if !tt.schema && err != nil {
				t.Errorf("the schema rejected it, so the case belongs with the schema cases: %v", err)
			}
		})
	}
}

// TestClusterSchemaAgreesWithDecode is TestSchemaAgreesWithDecode for
// cluster files.
func TestClusterSchemaAgreesWithDecode(t *testing.T) {
	t.Parallel()
	s := compile(t, schemas.ClusterID, schemas.Cluster)
	tests := []struct {
		name    string
		patches []testutil.Patch
		schema  bool // the schema rejects it too
	}{
		{"tenancy not a boolean", []testutil.Patch{testutil.Set("/flux", map[string]any{"tenancy": "yes"})}, true},
		{"empty namespace pattern", []testutil.Patch{testutil.Set("/allowedNamespaces", []any{""})}, true},
		{"allowed namespaces not a list", []testutil.Patch{testutil.Set("/allowedNamespaces", "shop")}, true},
		{"malformed namespace pattern", []testutil.Patch{testutil.Set("/allowedNamespaces", []any{"team-[a"})}, false},
		{"tenancy and one account", []testutil.Patch{testutil.Set("/flux", map[string]any{"tenancy": true, "serviceAccountName": "apply"})}, false},
		{"sops without a key secret", []testutil.Patch{testutil.Set("/sops", map[string]any{"age": []any{testAgeKey}})}, true},
		{"sops without age keys", []testutil.Patch{testutil.Set("/sops", map[string]any{"age": []any{}, "keySecret": "sops-age"})}, true},
		{"sops age key malformed", []testutil.Patch{testutil.Set("/sops", map[string]any{"age": []any{"age1short"}, "keySecret": "sops-age"})}, true},
		{"sops key secret not a name", []testutil.Patch{testutil.Set("/sops", map[string]any{"age": []any{testAgeKey}, "keySecret": "Sops_Age"})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/repo/clusters/prod.json"), tt.patches...)
			data := testutil.Marshal(t, doc)
			if _, err := workflow.DecodeCluster("clusters/prod.json", data); err == nil {
				t.Errorf("workflow.DecodeCluster accepted it")
			}
			err := validate(t, s, data)
			if tt.schema && err == nil {
				t.Errorf("the schema accepted it")
			}
			if !tt.schema && err != nil {
				t.Errorf("the schema rejected it, so the case belongs with the schema cases: %v", err)
			}
		})
	}
}

// testAgeKey is an age public key, as age-keygen -y prints one.
const testAgeKey = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
