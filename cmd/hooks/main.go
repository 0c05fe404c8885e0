// Command hooks is Slipway's webhook service: it verifies GitHub webhook
// deliveries, queues their work in etcd (embedded by default) and deploys
// pushes to the source branch. Configuration comes from the environment
// (see the README).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/store"
)

func main() {
	// Deliveries allocate briskly and live briefly: under load, collecting
	// garbage half as often gives a fifth more throughput and a lower p99
	// for about 90 MB more memory (make load). GOGC and GOMEMLIMIT in the
	// environment take precedence.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, log); err != nil {
		log.Error("hooks stopped", slog.String("error", err.Error()))
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := hooks.LoadConfig(ctx, nil)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{Endpoints: cfg.EtcdEndpoints, DataDir: filepath.Join(cfg.DataDir, "etcd")})
	if err != nil {
		return err
	}
	defer st.Close()
	opts := gitrepo.Options{CacheDir: filepath.Join(cfg.DataDir, "repos")}
	source, err := gitrepo.Open(ctx, cfg.SourceRepo, opts)
	if err != nil {
		return err
	}
	target := source
	if cfg.DeployRepo != cfg.SourceRepo {
		if target, err = gitrepo.Open(ctx, cfg.DeployRepo, opts); err != nil {
			return err
		}
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		return err
	}
	deployer, err := gitrepo.NewDeployer(source, target, c, gitrepo.DeployOptions{
		SourceBranch: cfg.SourceBranch, Branch: cfg.DeployBranch, Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"},
	})
	if err != nil {
		return err
	}
	metrics := hooks.NewMetrics(func() float64 {
		d, _ := st.Depth(context.Background())
		return float64(d)
	})
	receiver := hooks.NewReceiver(cfg.WebhookSecret, st, cfg.SourceBranch, log, metrics)
	app := hooks.NewApp(receiver, metrics)
	status, err := mountStatus(ctx, app, cfg, st, source, target, log)
	if err != nil {
		return err
	}
	api := &hooks.API{
		Source: source, Target: target, SourceBranch: cfg.SourceBranch, DeployBranch: cfg.DeployBranch,
		Tokens: cfg.APITokens, Queue: st, Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"},
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
	}
	api.Mount(app)
	host, _ := os.Hostname()
	worker := hooks.NewWorker(st, deployer, fmt.Sprintf("%s-%d", host, os.Getpid()), log)
	worker.DeployInterval = cfg.DeployInterval
	worker.Deployed = func(_ *store.Job, res *gitrepo.DeployResult, took time.Duration) {
		metrics.DeployLatency.Observe(took.Seconds())
		if res.Committed {
			go status.requestReconcile(ctx)
		}
	}
	if cfg.GitHubToken != "" {
		gh := github.NewClient(nil).WithAuthToken(cfg.GitHubToken)
		if gh.BaseURL, err = url.Parse(strings.TrimSuffix(cfg.GitHubAPIURL, "/") + "/"); err != nil {
			return err
		}
		worker.Reviewer = &hooks.Reviewer{Source: source, GitHub: gh, Compiler: c}
	}
	errs := make(chan error, 3)
	go func() { errs <- worker.Run(ctx) }()
	go func() { errs <- status.publisher.Run(ctx) }()
	go func() { errs <- app.Listen(cfg.Addr) }()
	log.Info("hooks listening", slog.String("addr", cfg.Addr), slog.String("source", cfg.SourceRepo), slog.String("deploy_branch", cfg.DeployBranch))
	select {
	case <-ctx.Done():
	case err := <-errs:
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return app.ShutdownWithContext(context.WithoutCancel(ctx))
}
