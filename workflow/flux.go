package workflow

import (
	"time"
)

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
	// ServiceAccountName is the account Flux impersonates to apply, for
	// multi-tenancy lockdown; it must exist in the workflow's namespace.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// DependsOn lists Flux Kustomizations that Slipway does not render
	// (cert-manager, an ingress controller, a SOPS-decrypted secrets
	// Kustomization) that must be ready first.
	DependsOn []FluxDependency `json:"dependsOn,omitempty"`
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
	if f.ServiceAccountName != "" {
		v.dns1123Subdomain(pointer(ptr, "serviceAccountName"), "", f.ServiceAccountName)
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
