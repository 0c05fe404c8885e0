package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BootstrapOptions say where Flux finds the deploy branch.
type BootstrapOptions struct {
	// Cluster is the cluster whose directory the Kustomization applies.
	Cluster string
	// URL is the git repository that holds the deploy branch.
	URL string
	// Branch is the deploy branch.
	Branch string
	// SecretRef names a Secret with the credentials for URL; empty for a
	// public repository.
	SecretRef string
	// Interval is how often Flux fetches the branch and applies the
	// cluster directory.
	Interval time.Duration
}

// Validate reports every invalid option.
func (o BootstrapOptions) Validate() error {
	var errs []error
	if msgs := content.IsDNS1123Label(o.Cluster); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("cluster %q: %v", o.Cluster, msgs))
	}
	if o.URL == "" {
		errs = append(errs, errors.New("the deploy repository's URL is required"))
	}
	if o.Branch == "" {
		errs = append(errs, errors.New("the deploy branch is required"))
	}
	if o.SecretRef != "" {
		if msgs := content.IsDNS1123Subdomain(o.SecretRef); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("secret %q: %v", o.SecretRef, msgs))
		}
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval must be positive, not %s", o.Interval))
	}
	return errors.Join(errs...)
}

// ClusterKustomizationName is the name of the Flux Kustomization that
// applies clusters/<cluster>. Workflow names may not start with slipway-,
// so no generated Kustomization can take it.
func ClusterKustomizationName(cluster string) string { return "slipway-" + cluster }

// Bootstrap renders what connects Flux to the deploy branch for one
// cluster: the GitRepository opts names, and a Kustomization on
// clusters/<cluster> with prune, which applies the cluster's Namespaces and
// its workflows' Kustomizations and deletes those of removed workflows.
func Bootstrap(b BootstrapOptions, opts Options) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("bootstrap options: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compiler options: %w", err)
	}
	spec := map[string]any{
		"interval": b.Interval.String(),
		"url":      b.URL,
		"ref":      map[string]any{"branch": b.Branch},
	}
	if b.SecretRef != "" {
		spec["secretRef"] = map[string]any{"name": b.SecretRef}
	}
	repo := map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1",
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": opts.SourceRefName, "namespace": opts.SourceRefNamespace},
		"spec":       spec,
	}
	k := &kustomizev1.Kustomization{
		TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterKustomizationName(b.Cluster), Namespace: opts.SourceRefNamespace},
		Spec: kustomizev1.KustomizationSpec{
			Interval:  metav1.Duration{Duration: b.Interval},
			Path:      "./" + ClusterDir(b.Cluster),
			Prune:     true,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: opts.SourceRefName},
		},
	}
	source := "compiler bootstrap --cluster " + b.Cluster
	var out bytes.Buffer
	for i, v := range []any{repo, k} {
		y, err := marshal(source, v)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
			y = y[len(generatedHeader(source)):]
		}
		out.Write(y)
	}
	return out.Bytes(), nil
}
