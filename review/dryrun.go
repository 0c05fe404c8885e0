package review

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/english"
)

// Bounds of a dry-run, so that a slow or large cluster cannot hold a
// review.
const (
	// DryRunTimeout bounds the dry-run of one cluster.
	DryRunTimeout = 30 * time.Second
	// DryRunMaxObjects is the most objects dry-run against one cluster;
	// the others are counted in the cluster's note.
	DryRunMaxObjects = 100
)

// Outcome is what applying one object would do, as the cluster's API
// server answers a server-side dry-run.
type Outcome string

// Outcomes of a dry-run.
const (
	// Created: the object is not in the cluster; Flux creates it.
	Created Outcome = "created"
	// Changed: Flux changes the fields listed.
	Changed Outcome = "changed"
	// Unchanged: the cluster already has the object as Flux applies it.
	Unchanged Outcome = "unchanged"
	// Recreated: a field that cannot change in place changes, and the
	// object asks Flux to force it (kustomize.toolkit.fluxcd.io/force):
	// Flux deletes the object and creates it again.
	Recreated Outcome = "recreated"
	// Refused: the API server refuses the object (an immutable field, an
	// admission denial, an unknown kind); Flux's apply fails the same
	// way and stops applying the object's Kustomization.
	Refused Outcome = "refused"
	// NotAllowed: the service's credentials may not dry-run the object;
	// this says nothing about Flux's apply.
	NotAllowed Outcome = "not-allowed"
	// Skipped: Flux does not apply the object (kustomize.toolkit.fluxcd.io/ssa:
	// Ignore, or IfNotPresent and the object exists).
	Skipped Outcome = "skipped"
	// TakenOver: the object exists and is not the workflow's (another
	// team's, or another workflow's); Flux takes it over. Neither its
	// live fields nor whether they change are told: the change's author
	// may not read them, and a review comment may be public.
	TakenOver Outcome = "taken-over"
)

// DryRun is a server-side dry-run of a review's added and modified
// objects against one cluster.
type DryRun struct {
	Cluster string `json:"cluster"`
	// Note says why some or all objects were not dry-run: no credentials
	// for the cluster, the cluster unreachable, the time or the object
	// cap reached.
	Note string `json:"note,omitempty"`
	// Objects are the objects dry-run, in the order they were.
	Objects []DryRunObject `json:"objects,omitempty"`
}

// DryRunObject is the dry-run of one object.
type DryRunObject struct {
	ObjectID
	// NodeID is the node the object was rendered from, when known.
	NodeID  string  `json:"node_id,omitempty"`
	Outcome Outcome `json:"outcome"`
	// Fields are the live object's fields that change, when Changed:
	// server-set metadata, status and managed fields left out, a
	// Secret's values masked.
	Fields []FieldChange `json:"fields,omitempty"`
	// Message is the API server's answer when it refused, or why the
	// object was skipped.
	Message string `json:"message,omitempty"`
}

// DryRunOptions configure Review.DryRun.
type DryRunOptions struct {
	// Clusters are the client configurations of the clusters the service
	// can read, by cluster name. A cluster of the review absent from it
	// gets a note.
	Clusters map[string]*rest.Config
	// FluxNamespace is the namespace of the Flux Kustomizations that
	// apply the deploy branch (compiler.Options.SourceRefNamespace).
	FluxNamespace string
	// Timeout bounds each cluster's dry-run (default DryRunTimeout).
	Timeout time.Duration
	// MaxObjects is the most objects dry-run against one cluster
	// (default DryRunMaxObjects).
	MaxObjects int
}

// Validate reports invalid options.
func (o DryRunOptions) Validate() error {
	var errs []error
	if o.FluxNamespace == "" {
		errs = append(errs, errors.New("dry-run: the Flux namespace is required"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("dry-run: the timeout must not be negative"))
	}
	if o.MaxObjects < 0 {
		errs = append(errs, errors.New("dry-run: the object cap must not be negative"))
	}
	return errors.Join(errs...)
}

// DryRun asks each cluster's API server what applying the review's added
// and modified objects would do, as Flux's kustomize-controller applies
// them: a server-side apply with dryRun=All, kustomize-controller's field
// manager and its ownership labels, forcing field ownership. It fills
// r.DryRuns, one per cluster with changed objects, all clusters at once.
// A cluster that cannot be reached, or that takes longer than the
// timeout, gets a note; DryRun fails only on invalid options.
func (r *Review) DryRun(ctx context.Context, opts DryRunOptions) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	opts.Timeout = cmp.Or(opts.Timeout, DryRunTimeout)
	opts.MaxObjects = cmp.Or(opts.MaxObjects, DryRunMaxObjects)
	byCluster := map[string][]appliedObject{}
	for _, w := range r.Workflows {
		for _, o := range w.Objects {
			if o.Change == Removed {
				continue // a prune, said in the consequences
			}
			if a, ok := r.head[o.ObjectID]; ok {
				byCluster[o.Cluster] = append(byCluster[o.Cluster], a)
			}
		}
	}
	clusters := slices.Sorted(maps.Keys(byCluster))
	r.DryRuns = make([]DryRun, len(clusters))
	var wg sync.WaitGroup
	for i, cl := range clusters {
		r.DryRuns[i] = DryRun{Cluster: cl}
		cfg, ok := opts.Clusters[cl]
		if !ok {
			r.DryRuns[i].Note = "not dry-run: the service has no kubeconfig context for this cluster"
			continue
		}
		objs := byCluster[cl]
		sortForApply(objs)
		wg.Go(func() {
			r.DryRuns[i] = dryRunCluster(ctx, cfg, cl, objs, r.owners(cl, opts.FluxNamespace), opts)
		})
	}
	wg.Wait()
	return nil
}

// owners returns, for an object of cluster, the Kustomization Flux
// applies it with: the workflow's, as the head renders it in the cluster
// directory (its namespace, force and ignore rules), or the cluster's
// for the objects of the cluster directory.
func (r *Review) owners(cluster, fluxNamespace string) func(appliedObject) kustomization {
	rendered := map[string]appliedObject{}
	for id, o := range r.head {
		if id.Cluster == cluster && o.clusterDir && id.APIVersion == kustomizationAPIVersion && id.Kind == "Kustomization" {
			rendered[id.Name] = o
		}
	}
	return func(o appliedObject) kustomization {
		if o.clusterDir {
			return kustomization{name: compiler.ClusterKustomizationName(cluster), namespace: fluxNamespace}
		}
		k := kustomization{name: o.workflow, namespace: fluxNamespace}
		if spec, ok := rendered[o.workflow]; ok {
			k.namespace = spec.id.Namespace
			k.readSpec(spec.values)
		}
		return k
	}
}

// sortForApply puts Namespaces first, as Flux applies them before the
// objects in them; the rest keep their order.
func sortForApply(objs []appliedObject) {
	slices.SortStableFunc(objs, func(a, b appliedObject) int {
		return cmp.Compare(rank(a), rank(b))
	})
}

func rank(o appliedObject) int {
	if o.id.Kind == "Namespace" && o.id.APIVersion == "v1" {
		return 0
	}
	return 1
}

// describe counts a cluster's outcomes: "3 objects: 1 refused, 2 changed".
func (d DryRun) describe() string {
	n := map[Outcome]int{}
	for _, o := range d.Objects {
		n[o.Outcome]++
	}
	s := english.Plural(len(d.Objects), "object")
	sep := ": "
	for _, k := range []Outcome{Refused, Recreated, NotAllowed, TakenOver, Created, Changed, Unchanged, Skipped} {
		if n[k] > 0 {
			s += fmt.Sprintf("%s%d %s", sep, n[k], k)
			sep = ", "
		}
	}
	return s
}
