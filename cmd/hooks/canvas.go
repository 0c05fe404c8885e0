package main

import (
	"context"
	"errors"
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
	return canvas.New(canvas.Options{
		Source: source, SourceBranch: cfg.SourceBranch, Accounts: accounts,
		ProxyHeader: cfg.Canvas.ProxyHeader, TrustedProxies: cfg.Canvas.Proxies(), Origins: cfg.Canvas.Origins,
		Status: status, Signals: st.Queue(), Log: log,
	})
}
