package plugins

import (
	"regexp"
	"testing"
)

var kindRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// TestBuiltIn checks the built-in catalog: every node type can be found
// by its ids, and its kind is a Kubernetes kind except where KubeOrch's
// own rule gives a display name (the node must then set kind itself).
func TestBuiltIn(t *testing.T) {
	t.Parallel()
	c := BuiltIn()
	if len(c.Plugins) < 50 {
		t.Fatalf("%d plugins; the catalog did not load", len(c.Plugins))
	}
	badKinds := map[string]bool{"mongodb-replicaset": true, "cassandra-cluster": true, "otel-collector": true, "consul-service-defaults": true}
	for _, p := range c.Plugins {
		for _, n := range p.NodeTypes {
			got, ok := c.NodeType(p.ID, n.TemplateID)
			if !ok || got.Kind != n.Kind {
				t.Errorf("%s/%s: NodeType found %v, %v", p.ID, n.TemplateID, got, ok)
			}
			if n.APIVersion != p.Group+"/v1" {
				t.Errorf("%s/%s: apiVersion %q, want %s/v1 as KubeOrch renders", p.ID, n.TemplateID, n.APIVersion, p.Group)
			}
			if kindRE.MatchString(n.Kind) == badKinds[n.TemplateID] {
				t.Errorf("%s/%s: kind %q", p.ID, n.TemplateID, n.Kind)
			}
		}
	}
	if n, ok := c.NodeType("", "pg-cluster"); !ok || n.APIVersion != "postgresql.cnpg.io/v1" || n.Kind != "Cluster" {
		t.Errorf("pg-cluster: %+v, %v", n, ok)
	}
	if _, ok := c.NodeType("mysql", "pg-cluster"); ok {
		t.Error("pg-cluster found under the plugin mysql")
	}
}

func TestWithReplaces(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(`{"id":"postgresql","group":"example.com","nodeTypes":[{"templateId":"pg-cluster","apiVersion":"example.com/v2","kind":"Database","fields":[{"id":"size","type":"number"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := BuiltIn().With(p)
	if n, ok := c.NodeType("", "pg-cluster"); !ok || n.Kind != "Database" {
		t.Errorf("the repository's plugin does not replace the built-in one: %+v", n)
	}
	if len(c.Plugins) != len(BuiltIn().Plugins) {
		t.Errorf("%d plugins after replacing one of %d", len(c.Plugins), len(BuiltIn().Plugins))
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"group":"x","nodeTypes":[]}`,
		`{"id":"x","nodeTypes":[{"templateId":"t"}]}`,
		`{"id":"x","nodeTypes":[],"extra":1}`,
		`[`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) succeeded", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"x","group":"g","nodeTypes":[{"templateId":"t","apiVersion":"g/v1","kind":"K","fields":[{"id":"a","type":"text"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if p.ID == "" {
			t.Fatal("a plugin without an id parsed")
		}
		BuiltIn().With(p)
	})
}
