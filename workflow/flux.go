package workflow

import "time"

// FluxSettings are the settings of a generated Flux Kustomization that a
// repository may fix, so that the same commit always renders the same
// tree. Unset fields fall back: a workflow's to its cluster's, a cluster's
// to the compiler's defaults.
type FluxSettings struct {
	// Interval is how often Flux reconciles, as a Go duration ("10m").
	Interval string `json:"interval,omitempty"`
	// RetryInterval is how soon Flux retries a failed reconciliation.
	RetryInterval string `json:"retryInterval,omitempty"`
	// Timeout bounds applying and waiting for health; a workflow with a
	// slow Job needs a longer one.
	Timeout string `json:"timeout,omitempty"`
	// DependsOn lists Flux Kustomizations that Slipway does not render
	// (cert-manager, an ingress controller, a SOPS-decrypted secrets
	// Kustomization) that must be ready first.
	DependsOn []FluxDependency `json:"dependsOn,omitempty"`
}

// ClusterFlux is a cluster file's flux: the FluxSettings of its
// workflows, and the account Flux applies each of them as. Only the
// cluster decides the account, so that no workflow can choose one with
// more rights than its own.
type ClusterFlux struct {
	FluxSettings
	// ServiceAccountName is one account, made by the operator, that
	// kustomize-controller impersonates to apply every workflow of the
	// cluster. Flux impersonates an account of the Kustomization's
	// namespace, so it must exist in the namespace of the Flux objects
	// (the compiler's --flux-namespace), not in the workflow's.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Tenancy makes each workflow apply as an account of its own, which
	// may act only in the workflow's namespace: the compiler renders, beside
	// the workflow's Kustomization, a ServiceAccount in the Flux namespace
	// and a RoleBinding of it to the ClusterRole admin in the workflow's
	// namespace, and sets the Kustomization's serviceAccountName to it.
	// It is what Flux's multi-tenancy lockdown
	// (--default-service-account) needs; the cluster Kustomization needs
	// rights to apply these objects (compiler bootstrap --tenancy).
	Tenancy bool `json:"tenancy,omitempty"`
}

// FluxDependency names a Flux Kustomization.
type FluxDependency struct {
	// Name is the Kustomization's name.
	Name string `json:"name"`
	// Namespace is its namespace; empty means the namespace of the
	// generated Kustomizations.
	Namespace string `json:"namespace,omitempty"`
}

// fluxSettings checks settings at ptr.
func (v *validator) fluxSettings(ptr string, f *FluxSettings) {
	if f == nil {
		return
	}
	for _, d := range []struct{ field, value string }{
		{"interval", f.Interval}, {"retryInterval", f.RetryInterval}, {"timeout", f.Timeout},
	} {
		if d.value == "" {
			continue
		}
		if dur, err := time.ParseDuration(d.value); err != nil || dur <= 0 {
			v.c.add(pointer(ptr, d.field), "", "%q is not a positive duration (like 30s, 10m or 1h)", d.value)
		}
	}
	seen := map[FluxDependency]bool{}
	for i, d := range f.DependsOn {
		dp := pointer(ptr, "dependsOn", i)
		v.dns1123Subdomain(pointer(dp, "name"), "", d.Name)
		if d.Namespace != "" {
			v.dns1123Label(pointer(dp, "namespace"), "", d.Namespace)
		}
		if seen[d] {
			v.c.add(dp, "", "%q is listed twice", d.Name)
		}
		seen[d] = true
	}
}

// clusterFlux checks a cluster file's flux at ptr.
func (v *validator) clusterFlux(ptr string, f *ClusterFlux) {
	if f == nil {
		return
	}
	v.fluxSettings(ptr, &f.FluxSettings)
	if f.ServiceAccountName != "" {
		v.dns1123Subdomain(pointer(ptr, "serviceAccountName"), "", f.ServiceAccountName)
		if f.Tenancy {
			v.c.add(pointer(ptr, "tenancy"), "", "gives each workflow an account of its own; it cannot be set with serviceAccountName, one account for all (remove one of them)")
		}
	}
}

// accountOfWorkflow reports a workflow file's flux.serviceAccountName,
// which would let a workflow choose the account Flux applies it as, and
// removes it so that it is not reported again as an unknown field.
func accountOfWorkflow(c *collector, doc map[string]any) {
	f, ok := doc["flux"].(map[string]any)
	if !ok {
		return
	}
	if _, has := f["serviceAccountName"]; !has {
		return
	}
	where := "the cluster file"
	if id, _ := doc["cluster_id"].(string); id != "" {
		where = ClusterFile(id)
	}
	c.add("/flux/serviceAccountName", "", "belongs in %s: a workflow cannot choose the account Flux applies it as (there, flux.serviceAccountName names one account for every workflow; flux.tenancy gives each workflow its own)", where)
	delete(f, "serviceAccountName")
}
