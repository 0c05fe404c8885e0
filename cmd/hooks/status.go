package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/hooks/ui"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// statusParts are the live-status pieces run wires together.
type statusParts struct {
	api       *hooks.StatusAPI
	publisher *hooks.StatusPublisher
	flux      *hooks.FluxSource
	log       *slog.Logger
}

// newStatusAPI returns the status API, whose streams end with ctx.
func newStatusAPI(ctx context.Context, cfg *hooks.Config, st *store.Store) (*hooks.StatusAPI, error) {
	return hooks.NewStatusAPI(hooks.StatusAPIConfig{Reader: st, Access: readAccess(cfg), Heartbeat: 15 * time.Second, Done: ctx.Done(), Events: cfg.Events})
}

// readAccess says who may read the status API and page.
func readAccess(cfg *hooks.Config) hooks.ReadAccess {
	return hooks.ReadAccess{Tokens: cfg.ReadTokens, IdentityHeader: cfg.ReadIdentityHeader}
}

// mountStatus adds the status API and page to app (before the other /api
// routes, so that the read guard covers them) and prepares the publisher
// and the Flux reconcile requests. The publisher compiles the source
// head with c, the deployer's compiler; the page shows builds, when on
// (not nil).
func mountStatus(app *fiber.App, api *hooks.StatusAPI, cfg *hooks.Config, st *store.Store, source, target *gitrepo.Repo, c *compiler.Compiler,
	builds hooks.Builds, log *slog.Logger) (*statusParts, error) {
	contexts := func(clusters []string) (map[string]*rest.Config, error) {
		return watch.Contexts(cfg.Kubeconfig, clusters)
	}
	access := readAccess(cfg)
	api.Mount(app)
	page, err := ui.New(ui.Config{Status: st, Source: source, SourceBranch: cfg.SourceBranch, Deploy: target, DeployBranch: cfg.DeployBranch,
		Access: access, Kubeconfig: cfg.Kubeconfig != "", Builds: builds, Log: log})
	if err != nil {
		return nil, err
	}
	page.Mount(app)
	ns, name, _ := strings.Cut(cfg.FluxSource, "/")
	flux, err := hooks.NewFluxSource(hooks.FluxSourceConfig{
		Contexts: func() (map[string]*rest.Config, error) {
			return watch.Contexts(cfg.Kubeconfig, deployClusters(target, cfg.DeployBranch))
		},
		Namespace: ns, Name: name, Log: log,
	})
	if err != nil {
		return nil, err
	}
	publisher, err := hooks.NewStatusPublisher(hooks.StatusPublisherConfig{Store: st, Deploy: target, DeployBranch: cfg.DeployBranch, Source: source,
		Contexts: contexts, FluxNamespaces: fluxNamespaces(cfg), ID: replicaID(), Log: log, MinWrite: cfg.StatusMinWrite, Refresh: 5 * time.Second,
		Compiler: c, SourceBranch: cfg.SourceBranch})
	if err != nil {
		return nil, err
	}
	return &statusParts{api: api, publisher: publisher, flux: flux, log: log}, nil
}

// fluxNamespaces returns the namespaces whose Flux objects status
// believes: HOOKS_FLUX_SOURCE's, where the compiler renders them, then,
// while they move from another, HOOKS_FLUX_MOVE_FROM's.
func fluxNamespaces(cfg *hooks.Config) []string {
	ns, _, _ := strings.Cut(cfg.FluxSource, "/")
	if cfg.FluxMoveFrom == "" {
		return []string{ns}
	}
	return []string{ns, cfg.FluxMoveFrom}
}

// deployClusters lists the clusters the deploy branch names now.
func deployClusters(target *gitrepo.Repo, branch string) []string {
	c, err := target.Resolve(branch)
	if err != nil {
		return nil
	}
	clusters, _ := target.Subdirs(c, "clusters")
	return clusters
}

// requestReconcile asks Flux to fetch the deploy branch now, and the
// sources of workflows, by name, when each has its own; a failure only
// delays the deploy until Flux's interval.
func (s *statusParts) requestReconcile(ctx context.Context, workflows []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.flux.RequestReconcile(ctx, workflows...); err != nil {
		s.log.Warn("Flux will pick up the deploy at its interval", slog.String("error", err.Error()))
	}
}
