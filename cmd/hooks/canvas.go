package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/users"
)

// newCanvas returns the canvas editor's API on the built-in accounts,
// making the bootstrap account of HOOKS_CANVAS_ADMIN_* unless it exists.
func newCanvas(ctx context.Context, cfg *hooks.Config, st *store.Store, source *gitrepo.Repo, status *hooks.StatusAPI, log *slog.Logger) (*canvas.Server, error) {
	accounts, err := users.New(st, users.Options{TokenTTL: cfg.Canvas.TokenTTL, SessionMax: cfg.Canvas.SessionMax})
	if err != nil {
		return nil, err
	}
	if cfg.Canvas.AdminEmail != "" {
		_, err := accounts.Add(ctx, cfg.Canvas.AdminEmail, "", "admin", cfg.Canvas.AdminPassword)
		switch {
		case errors.Is(err, users.ErrExists):
		case err != nil:
			return nil, err
		default:
			log.Info("canvas: made the bootstrap account", slog.String("email", cfg.Canvas.AdminEmail))
		}
	}
	opts := canvas.Options{
		Source: source, SourceBranch: cfg.SourceBranch, Accounts: accounts,
		ProxyHeader: cfg.Canvas.ProxyHeader, TrustedProxies: cfg.Canvas.Proxies(), Origins: cfg.Canvas.Origins,
		Status: status, Signals: st.Queue(), Log: log,
	}
	if cfg.Canvas.Save == hooks.SavePullRequest {
		if opts.PullRequests, err = newPullRequests(cfg); err != nil {
			return nil, err
		}
	}
	return canvas.New(opts)
}

// newPullRequests returns what opens the pull requests of
// HOOKS_CANVAS_SAVE=pull-request.
func newPullRequests(cfg *hooks.Config) (*canvas.GitHub, error) {
	repo, err := cfg.Canvas.PullRequestRepo(cfg.SourceRepo)
	if err != nil {
		return nil, fmt.Errorf("canvas: %w", err)
	}
	client, err := hooks.NewGitHubClient(cfg.GitHubToken, cfg.GitHubAPIURL, hooks.GitHubTimeout)
	if err != nil {
		return nil, fmt.Errorf("canvas: %w", err)
	}
	return canvas.NewGitHub(client, repo)
}
