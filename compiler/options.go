package compiler

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/api/validate/content"
)

// Options configure the rendered Flux objects.
type Options struct {
	// SourceRefName is the GitRepository that serves the deploy branch.
	SourceRefName string
	// SourceRefNamespace is the namespace of that GitRepository and of the
	// generated Flux Kustomizations: Slipway's own, apart from the
	// operator's Flux objects, so that no workflow's Kustomization can take
	// the name of one of theirs.
	SourceRefNamespace string
	// MoveFrom, when set, is the namespace the workflows' Kustomizations
	// move from (see released): each is rendered there too, suspended and
	// with deletionPolicy Orphan, so that pruning it later deletes none of
	// the objects it applied.
	MoveFrom string
	// Interval is how often Flux reconciles each workflow, unless the
	// workflow or its cluster file says (flux.interval).
	Interval time.Duration
	// RetryInterval is how soon Flux retries a failed reconciliation,
	// unless the repository says (flux.retryInterval).
	RetryInterval time.Duration
	// Timeout bounds applying a workflow and waiting for it to be healthy,
	// unless the repository says (flux.timeout).
	Timeout time.Duration
	// WaitImage runs the init containers that make a workload wait for
	// the workloads it depends on; it needs sh and nc.
	WaitImage string
	// WorkflowSources, when set, is the deploy branch whose per-workflow
	// refs (WorkflowSourceRef) the workflows' Kustomizations read, each
	// through a GitRepository of its own named after the workflow, which
	// the cluster Kustomization completes with the repository's URL
	// (BootstrapOptions.WorkflowSources). A deploy commit then has Flux
	// reconcile only the workflows whose tree it changed, not all of them.
	// Empty: every workflow reads the GitRepository SourceRefName.
	WorkflowSources string
}

// DefaultFluxNamespace is the namespace of Slipway's Flux objects unless
// told otherwise: not Flux's own (flux-system), where the operator's
// Kustomizations live.
const DefaultFluxNamespace = "slipway"

// fluxOwnNamespace and fluxOwnName are where Flux's own GitRepository and
// Kustomization live when Flux was installed by flux bootstrap.
const fluxOwnNamespace, fluxOwnName = "flux-system", "flux-system"

// DefaultOptions returns the options the command line starts from.
func DefaultOptions() Options {
	return Options{
		SourceRefName:      "slipway",
		SourceRefNamespace: DefaultFluxNamespace,
		Interval:           10 * time.Minute,
		RetryInterval:      time.Minute,
		Timeout:            5 * time.Minute,
		WaitImage:          "busybox:1.36",
	}
}

// Validate reports every invalid option.
func (o Options) Validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"source ref name", o.SourceRefName},
		{"source ref namespace", o.SourceRefNamespace},
	} {
		if msgs := content.IsDNS1123Label(f.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %v", f.name, f.value, msgs))
		}
	}
	if o.MoveFrom != "" {
		if msgs := content.IsDNS1123Label(o.MoveFrom); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace to move from %q: %v", o.MoveFrom, msgs))
		} else if o.MoveFrom == o.SourceRefNamespace {
			errs = append(errs, fmt.Errorf("namespace to move from %q is the Flux namespace itself", o.MoveFrom))
		}
	}
	if o.WorkflowSources != "" {
		if err := plumbing.NewBranchReferenceName(o.WorkflowSources).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("workflow sources: deploy branch %q: %w", o.WorkflowSources, err))
		}
	}
	if o.WaitImage == "" {
		errs = append(errs, errors.New("wait image is required"))
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"interval", o.Interval}, {"retry interval", o.RetryInterval}, {"timeout", o.Timeout}} {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, not %s", f.name, f.d))
		}
	}
	return errors.Join(errs...)
}

// BindFlags registers the options as flags, with o's values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.SourceRefName, "source-ref", o.SourceRefName, "name of the Flux GitRepository that serves the deploy branch")
	fs.StringVar(&o.SourceRefNamespace, "flux-namespace", o.SourceRefNamespace, "namespace of that GitRepository and of the generated Flux Kustomizations")
	fs.StringVar(&o.MoveFrom, "move-from-namespace", o.MoveFrom, "while moving Slipway's Flux objects to --flux-namespace: the namespace they were in, where each workflow's Kustomization is released (suspended, deletionPolicy Orphan) until a deploy without this flag prunes it and leaves its objects alone")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "how often Flux reconciles each workflow, unless the workflow or its cluster sets flux.interval")
	fs.DurationVar(&o.RetryInterval, "retry-interval", o.RetryInterval, "how soon Flux retries a failed reconciliation, unless the repository sets flux.retryInterval")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long Flux waits for a workflow to become healthy, unless the repository sets flux.timeout")
	fs.StringVar(&o.WorkflowSources, "workflow-sources", o.WorkflowSources, "deploy branch whose per-workflow refs each workflow's own GitRepository reads, so that a deploy commit has Flux reconcile only the workflows it changed (bootstrap with --workflow-sources too); empty: every workflow reads the one GitRepository --source-ref")
	fs.StringVar(&o.WaitImage, "wait-image", o.WaitImage, "image of the init containers that wait for dependencies (needs sh and nc)")
}
