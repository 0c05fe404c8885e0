package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/review"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// service is the webhook service's parts, each built by its package's
// New from a config struct.
type service struct {
	cfg    *hooks.Config
	log    *slog.Logger
	store  *store.Store
	app    *fiber.App
	worker *hooks.Worker
	status *statusParts
	// builds is nil unless HOOKS_BUILD_REGISTRY is set.
	builds *build.Service
}

// newService opens the store and the repositories and builds the parts of
// the service on them.
func newService(ctx context.Context, cfg *hooks.Config, log *slog.Logger) (_ *service, err error) {
	st, err := store.Open(ctx, store.Config{Endpoints: cfg.EtcdEndpoints, DataDir: filepath.Join(cfg.DataDir, "etcd"), Logger: log})
	if err != nil {
		return nil, err
	}
	s := &service{cfg: cfg, log: log, store: st}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// author signs the service's commits: deploys and restores.
	author := gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"}
	source, target, err := openRepos(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opts := compiler.DefaultOptions()
	opts.SourceRefNamespace, opts.SourceRefName, _ = strings.Cut(cfg.FluxSource, "/")
	opts.MoveFrom = cfg.FluxMoveFrom
	if cfg.FluxWorkflowSources {
		opts.WorkflowSources = cfg.DeployBranch
	}
	c, err := compiler.New(opts)
	if err != nil {
		return nil, fmt.Errorf("HOOKS_FLUX_SOURCE, HOOKS_FLUX_MOVE_FROM: %w", err)
	}
	dep, err := deployer.New(source, target, c, deployer.Options{SourceBranch: cfg.SourceBranch, Branch: cfg.DeployBranch, Author: author,
		WorkflowSources: cfg.FluxWorkflowSources})
	if err != nil {
		return nil, err
	}
	metrics, err := hooks.NewMetrics(hooks.MetricsConfig{Depth: st.Queue().Depth, Extra: st.Metrics()})
	if err != nil {
		return nil, err
	}
	if cfg.Builds.Enabled() {
		if s.builds, err = newBuilds(cfg, st, source, author, log); err != nil {
			return nil, err
		}
	}
	receiver, err := hooks.NewReceiver(hooks.ReceiverConfig{Secret: cfg.WebhookSecret, Queue: st.Queue(), SourceBranch: cfg.SourceBranch, Log: log, Metrics: metrics,
		Builds: s.builds != nil})
	if err != nil {
		return nil, err
	}
	statusAPI, err := newStatusAPI(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	appCfg := hooks.AppConfig{Receiver: receiver, Metrics: metrics}
	if cfg.Canvas.Enabled {
		if appCfg.Canvas, err = newCanvas(ctx, cfg, st, source, statusAPI, log); err != nil {
			return nil, err
		}
	}
	if s.app, err = hooks.NewApp(appCfg); err != nil {
		return nil, err
	}
	var builds hooks.Builds
	if s.builds != nil {
		builds = s.builds
	}
	// The status routes go first, so that their read guard covers the
	// other /api routes too.
	if s.status, err = mountStatus(s.app, statusAPI, cfg, st, source, target, c, builds, log); err != nil {
		return nil, err
	}
	metrics.Registry.MustRegister(s.status.api)
	var reviewer *hooks.Reviewer
	if cfg.GitHubToken != "" {
		rc := hooks.ReviewerConfig{Source: source, Compiler: c, GitHubToken: cfg.GitHubToken, GitHubAPIURL: cfg.GitHubAPIURL}
		if cfg.Kubeconfig != "" {
			rc.Clusters = func(clusters []string) (map[string]*rest.Config, error) {
				return watch.Contexts(cfg.Kubeconfig, clusters)
			}
			rc.DryRun = review.DryRunOptions{FluxNamespace: opts.SourceRefNamespace}
		}
		reviewer, err = hooks.NewReviewer(rc)
		if err != nil {
			return nil, err
		}
	}
	s.worker, err = hooks.NewWorker(hooks.WorkerConfig{
		Builds:   builds,
		Sessions: st, Queue: st.Queue(), Deployer: dep, ID: replicaID(), Log: log,
		DeployInterval: cfg.DeployInterval, ResyncInterval: cfg.ResyncInterval, Reviewer: reviewer,
		JobTimeout: cfg.JobTimeout, JobConcurrency: cfg.JobConcurrency,
		Deployed: func(res *deployer.Result, sinceDelivery time.Duration) {
			if res.Committed || len(res.Sources) > 0 {
				go s.status.requestReconcile(ctx, res.Sources)
			}
			if sinceDelivery > 0 {
				metrics.DeployLatency.Observe(sinceDelivery.Seconds())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	metrics.Registry.MustRegister(s.worker)
	api, err := hooks.NewAPI(hooks.APIConfig{
		Source: source, Target: target, SourceBranch: cfg.SourceBranch, DeployBranch: cfg.DeployBranch,
		Tokens: cfg.APITokens, Signals: st.Queue(), Author: author, Deploys: s.worker.Status, Access: readAccess(cfg),
		Ready: func(ctx context.Context) error {
			if err := st.Ready(ctx); err != nil {
				return err
			}
			if err := source.Fetch(ctx); err != nil {
				return err
			}
			_, err := source.Resolve(cfg.SourceBranch)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	api.Mount(s.app)
	if s.builds != nil {
		api.MountBuilds(s.app, s.builds)
	}
	return s, nil
}

// newBuilds returns the builds, run in HOOKS_BUILD_CLUSTER's context of
// HOOKS_KUBECONFIG; a write-back raises the deploy signal.
func newBuilds(cfg *hooks.Config, st *store.Store, source *gitrepo.Repo, author gitrepo.Signature, log *slog.Logger) (*build.Service, error) {
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: cfg.Builds.Cluster}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("builds: cluster %q of %s: %w", cfg.Builds.Cluster, cfg.Kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("builds: %w", err)
	}
	return build.NewService(build.ServiceConfig{
		Config: cfg.Builds, Records: st, Sessions: st, ID: replicaID(), Kube: kube,
		Source: source, SourceBranch: cfg.SourceBranch, Author: author, Log: log,
		Deploy: func(ctx context.Context) error { return st.Queue().Signal(ctx, hooks.SignalDeploy) },
	})
}

// openRepos opens the source repository, and the deploy repository when
// it is another one.
func openRepos(ctx context.Context, cfg *hooks.Config) (source, target *gitrepo.Repo, err error) {
	opts := gitrepo.Options{CacheDir: filepath.Join(cfg.DataDir, "repos")}
	if source, err = gitrepo.Open(ctx, cfg.SourceRepo, opts); err != nil {
		return nil, nil, err
	}
	if cfg.DeployRepo == cfg.SourceRepo {
		return source, source, nil
	}
	if target, err = gitrepo.Open(ctx, cfg.DeployRepo, opts); err != nil {
		return nil, nil, err
	}
	return source, target, nil
}

// replicaID names this replica in elections and claims.
func replicaID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// serve runs the worker, the status publisher and the HTTP server until
// ctx ends or one of them fails, then stops them all. The worker and the
// publisher end their sessions (claims, lock, leadership) before the
// store closes.
func (s *service) serve(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	worked, published, listened := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { worked <- s.worker.Run(runCtx) }()
	go func() { published <- s.status.publisher.Run(runCtx) }()
	var built chan error
	if s.builds != nil {
		built = make(chan error, 1)
		go func() { built <- s.builds.Run(runCtx) }()
	}
	go func() { listened <- s.app.Listen(s.cfg.Addr) }()
	s.log.Info("hooks listening", slog.String("addr", s.cfg.Addr), slog.String("source", gitrepo.RedactCredentials(s.cfg.SourceRepo)),
		slog.String("deploy_repo", gitrepo.RedactCredentials(s.cfg.DeployRepo)), slog.String("deploy_branch", s.cfg.DeployBranch))
	var failed error
	select {
	case <-ctx.Done():
	case err := <-listened:
		failed = fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	case err := <-worked:
		failed, worked = fmt.Errorf("deploy worker: %w", err), nil
	case err := <-published:
		failed, published = fmt.Errorf("status publisher: %w", err), nil
	case err := <-built:
		failed, built = fmt.Errorf("builds: %w", err), nil
	}
	cancel()
	err := s.app.ShutdownWithContext(context.WithoutCancel(ctx))
	for _, c := range []chan error{worked, published, built} {
		if c != nil {
			if e := <-c; e != nil && !errors.Is(e, context.Canceled) {
				err = errors.Join(err, e)
			}
		}
	}
	return errors.Join(failed, err)
}

// close closes the store.
func (s *service) close() { s.store.Close() }
