package workflow

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strings"
)

// DefaultCluster is the cluster of a repository that defines none.
const DefaultCluster = "default"

// Cluster is one cluster file: clusters/<name>.json. It never holds
// credentials; Flux in the cluster pulls the deploy branch itself.
type Cluster struct {
	// Schema is the optional JSON Schema reference for editors.
	Schema string `json:"$schema,omitempty"`
	// Name is the cluster name; it equals the file stem.
	Name string `json:"name"`
	// DisplayName is a human-readable name.
	DisplayName string `json:"displayName,omitempty"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// Server is the Kubernetes API server URL, for information.
	Server string `json:"server,omitempty"`
	// AuthType is how the seed system reached the cluster, for information.
	AuthType string `json:"authType,omitempty"`
	// Default marks the cluster of workflows that name none.
	Default bool `json:"default,omitempty"`
	// Labels are user-defined labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Metadata describes the cluster, for information.
	Metadata *ClusterMetadata `json:"metadata,omitempty"`
	// Flux holds the settings of the Flux Kustomizations rendered for this
	// cluster's workflows, which workflows may override, and the account
	// Flux applies them as, which they may not.
	Flux *ClusterFlux `json:"flux,omitempty"`
	// AllowedNamespaces, when set, are the namespaces the cluster's
	// workflows may deploy into, as path.Match patterns ("team-a-*",
	// "shop"); a published workflow whose namespace matches none is
	// refused. Empty: any namespace that is not Kubernetes' or Flux's.
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
	// PodSecurity is the Pod Security Standard (privileged, baseline or
	// restricted) the namespaces rendered for this cluster enforce.
	PodSecurity string `json:"podSecurity,omitempty"`
	// Adopt names the system whose live objects the cluster's workflows
	// take over. AdoptKubeOrch keeps the selector labels KubeOrch gave its
	// workloads, which Kubernetes does not let change in place, so that
	// Flux updates the objects KubeOrch made instead of failing on them,
	// and gives Jobs kustomize.toolkit.fluxcd.io/ssa: IfNotPresent instead
	// of Flux's force annotation, so that Flux creates a missing Job and
	// leaves one KubeOrch ran as it is, never running it again.
	// Empty: Slipway's own selector labels and forced Jobs.
	Adopt string `json:"adopt,omitempty"`
	// Sops holds the age keys that encrypt the Secrets of the cluster's
	// secret nodes that set sopsFile, and the Secret Flux decrypts them
	// with; nil when the cluster has none.
	Sops *ClusterSops `json:"sops,omitempty"`
}

// ClusterMetadata describes a cluster.
type ClusterMetadata struct {
	Version      string   `json:"version,omitempty"`
	Platform     string   `json:"platform,omitempty"`
	NodeCount    int64    `json:"nodeCount,omitempty"`
	Namespaces   []string `json:"namespaces,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// DecodeCluster parses and validates a cluster file; file is its path,
// clusters/<name>.json.
func DecodeCluster(file string, data []byte) (*Cluster, error) {
	c := &collector{file: file}
	doc, ok := parseJSON(c, data)
	if !ok {
		return nil, c.err()
	}
	m := doc.(map[string]any)
	if _, has := m["credentials"]; has {
		c.add("/credentials", "", "credentials must not be stored in git; Flux in the cluster pulls the deploy branch itself")
		delete(m, "credentials")
	}
	checker{c: c}.check("", "", m, reflect.TypeFor[Cluster]())
	if len(c.errs) > 0 {
		return nil, c.err()
	}
	var cl Cluster
	if err := json.Unmarshal(data, &cl); err != nil {
		c.add("", "", "%v", err)
		return nil, c.err()
	}
	v := validator{c: c, file: file}
	name := stem(file)
	switch {
	case cl.Name == "":
		c.add("/name", "", "is required and must be %q, the file name", name)
	case cl.Name != name:
		c.add("/name", "", "%q must equal the file name %q", cl.Name, name)
	default:
		v.dns1123Label("/name", "", cl.Name)
	}
	v.oneOf("/authType", "", cl.AuthType, "kubeconfig", "token", "certificate", "serviceaccount", "oidc")
	v.labels("/labels", "", cl.Labels, true)
	v.oneOf("/podSecurity", "", cl.PodSecurity, "privileged", "baseline", "restricted")
	v.oneOf("/adopt", "", cl.Adopt, AdoptKubeOrch)
	v.clusterFlux("/flux", cl.Flux)
	v.clusterSops("/sops", cl.Sops)
	for i, p := range cl.AllowedNamespaces {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			v.c.add(pointer("/allowedNamespaces", i), "", "%q is not a namespace pattern (like team-a-* or shop)", p)
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return &cl, nil
}

// AllowsNamespace reports whether the cluster's workflows may deploy into
// namespace ns: whether it matches one of AllowedNamespaces, or there are
// none.
func (cl *Cluster) AllowsNamespace(ns string) bool {
	if len(cl.AllowedNamespaces) == 0 {
		return true
	}
	for _, p := range cl.AllowedNamespaces {
		if ok, _ := path.Match(p, ns); ok {
			return true
		}
	}
	return false
}

// checkAllowedNamespace reports a published workflow on cl whose
// namespace cl does not allow, at the place that sets the namespace.
func checkAllowedNamespace(w *Workflow, cl *Cluster) Errors {
	if cl == nil || w.Status != StatusPublished || cl.AllowsNamespace(w.TargetNamespace()) {
		return nil
	}
	ptr, node := w.NamespacePointer()
	quoted := make([]string, len(cl.AllowedNamespaces))
	for i, p := range cl.AllowedNamespaces {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	c := collector{file: WorkflowFile(w.Name)}
	c.add(ptr, node, "namespace %q is not allowed on cluster %q: it matches none of %s in %s /allowedNamespaces",
		w.TargetNamespace(), cl.Name, strings.Join(quoted, ", "), ClusterFile(cl.Name))
	return c.errs
}
