package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/watch"
)

// RequestedAtAnnotation asks a Flux object to reconcile now, as `flux
// reconcile source git` does: Flux reconciles when its value changes.
const RequestedAtAnnotation = "reconcile.fluxcd.io/requestedAt"

// FluxSource asks Flux's GitRepository of the deploy branch, in every
// watched cluster, and those of the workflows a deploy changed when each
// has its own, to fetch now, so that a deploy does not wait for Flux's
// interval. It is the one thing the service writes to clusters, and is
// kept apart from package watch, which only reads.
type FluxSource struct {
	contexts  func() (map[string]*rest.Config, error)
	namespace string
	name      string
	log       *slog.Logger
	now       func() time.Time
}

// FluxSourceConfig configures a FluxSource.
type FluxSourceConfig struct {
	// Contexts returns, at the time of each request, the client
	// configuration of each cluster to ask.
	Contexts func() (map[string]*rest.Config, error)
	// Namespace and Name name the GitRepository of the deploy branch.
	Namespace, Name string
	Log             *slog.Logger
}

// NewFluxSource returns a requester for the GitRepository of cfg in each
// cluster.
func NewFluxSource(cfg FluxSourceConfig) (*FluxSource, error) {
	if cfg.Contexts == nil || cfg.Namespace == "" || cfg.Name == "" || cfg.Log == nil {
		return nil, errors.New("flux source: contexts, a namespace, a name and a log are required")
	}
	return &FluxSource{contexts: cfg.Contexts, namespace: cfg.Namespace, name: cfg.Name, log: cfg.Log, now: time.Now}, nil
}

// RequestReconcile sets the requestedAt annotation of the deploy branch's
// GitRepository in every cluster, and of the GitRepositories of
// workflows, in the layout where each workflow has its own (named after
// it) and a deploy moved theirs, in every cluster that has them. It
// reports every cluster where it could not.
func (f *FluxSource) RequestReconcile(ctx context.Context, workflows ...string) error {
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, RequestedAtAnnotation, f.now().UTC().Format(time.RFC3339Nano))
	contexts, err := f.contexts()
	if err != nil {
		return err
	}
	var errs []error
	for _, cl := range slices.Sorted(maps.Keys(contexts)) {
		client, err := dynamic.NewForConfig(contexts[cl])
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", cl, err))
			continue
		}
		repos := client.Resource(watch.GitRepositories).Namespace(f.namespace)
		_, err = repos.Patch(ctx, f.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "slipway"})
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: ask GitRepository %s/%s to reconcile: %w", cl, f.namespace, f.name, err))
			continue
		}
		asked := 0
		for _, wf := range workflows {
			_, err := repos.Patch(ctx, wf, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "slipway"})
			switch {
			case apierrors.IsNotFound(err):
				// The workflow is another cluster's, or Flux has not
				// applied its source yet and will fetch it when it does.
			case err != nil:
				errs = append(errs, fmt.Errorf("cluster %s: ask GitRepository %s/%s to reconcile: %w", cl, f.namespace, wf, err))
			default:
				asked++
			}
		}
		f.log.Info("asked Flux to reconcile", slog.String("cluster", cl), slog.String("gitrepository", f.namespace+"/"+f.name),
			slog.Int("workflow_sources", asked))
	}
	return errors.Join(errs...)
}
