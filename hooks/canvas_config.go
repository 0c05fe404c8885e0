package hooks

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// CanvasConfig configures the API of KubeOrch's canvas editor
// (HOOKS_CANVAS_*), served under CanvasPrefix when Enabled.
type CanvasConfig struct {
	// Enabled serves the canvas API.
	Enabled bool `env:"HOOKS_CANVAS, default=false"`
	// Origins are the editor's origins (scheme://host:port), allowed to
	// call the API from a browser.
	Origins []string `env:"HOOKS_CANVAS_ORIGINS"`
	// TokenTTL is how long a login's token is valid.
	TokenTTL time.Duration `env:"HOOKS_CANVAS_TOKEN_TTL, default=24h"`
	// SessionMax is how long after its login a session ends, however
	// often its token is refreshed: then its user signs in again.
	SessionMax time.Duration `env:"HOOKS_CANVAS_SESSION_MAX, default=168h"`
	// AdminEmail and AdminPassword, when set, make that account at start
	// unless it exists (from a Secret, never on a command line).
	AdminEmail    string `env:"HOOKS_CANVAS_ADMIN_EMAIL"`
	AdminPassword string `env:"HOOKS_CANVAS_ADMIN_PASSWORD"`
	// ProxyHeader names the header, holding the user's email, an
	// authenticating proxy sets; it is believed only from TrustedProxies.
	ProxyHeader string `env:"HOOKS_CANVAS_PROXY_HEADER"`
	// TrustedProxies are the addresses (CIDR prefixes) of those proxies.
	TrustedProxies []string `env:"HOOKS_CANVAS_TRUSTED_PROXIES"`
	// Save is what the editor's writes do: SaveCommit commits them to the
	// source branch; SavePullRequest commits them to a branch per
	// workflow, pushed to the source repository, and opens a pull request
	// of it into the source branch with HOOKS_GITHUB_TOKEN.
	Save string `env:"HOOKS_CANVAS_SAVE, default=commit"`
	// SaveRepo is the GitHub repository (owner/name) the pull requests are
	// opened on; empty, the one HOOKS_SOURCE_REPO names on github.com.
	SaveRepo string `env:"HOOKS_CANVAS_SAVE_REPO"`
}

// The values of HOOKS_CANVAS_SAVE.
const (
	// SaveCommit commits a save to the source branch.
	SaveCommit = "commit"
	// SavePullRequest commits a save to the workflow's own branch and
	// proposes it by a pull request.
	SavePullRequest = "pull-request"
)

// githubRepo finds owner/name in a github.com URL: https://, ssh:// or
// git@github.com:owner/name, with or without .git.
var githubRepo = regexp.MustCompile(`^(?:(?:https?|ssh)://(?:[^@/]*@)?github\.com/|git@github\.com:)([A-Za-z0-9][-A-Za-z0-9]*/[A-Za-z0-9._-]+?)(?:\.git)?/?$`)

// PullRequestRepo returns the GitHub repository (owner/name) that
// pull-request mode opens pull requests on: SaveRepo, or the one
// sourceRepo (HOOKS_SOURCE_REPO) names on github.com.
func (c CanvasConfig) PullRequestRepo(sourceRepo string) (string, error) {
	if c.SaveRepo != "" {
		if owner, name, ok := strings.Cut(c.SaveRepo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return "", fmt.Errorf("%q is not a GitHub repository (owner/name)", c.SaveRepo)
		}
		return c.SaveRepo, nil
	}
	m := githubRepo.FindStringSubmatch(sourceRepo)
	if m == nil {
		return "", errors.New("HOOKS_SOURCE_REPO is not on github.com; name the repository the pull requests are opened on (owner/name)")
	}
	return m[1], nil
}

// Proxies returns TrustedProxies parsed; Validate has checked them.
func (c CanvasConfig) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pfx, err := parsePrefix(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}

// parsePrefix parses a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// validate reports every invalid variable; cfg holds them all.
func (c CanvasConfig) validate(cfg *Config) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	for _, o := range c.Origins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("HOOKS_CANVAS_ORIGINS", "%q is not an origin (scheme://host:port)", o)
		}
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 30*24*time.Hour {
		bad("HOOKS_CANVAS_TOKEN_TTL", "%s is not between 1m and 720h", c.TokenTTL)
	}
	if c.SessionMax < c.TokenTTL || c.SessionMax > 90*24*time.Hour {
		bad("HOOKS_CANVAS_SESSION_MAX", "%s is not between HOOKS_CANVAS_TOKEN_TTL (%s) and 2160h", c.SessionMax, c.TokenTTL)
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		bad("HOOKS_CANVAS_ADMIN_PASSWORD", "HOOKS_CANVAS_ADMIN_EMAIL and HOOKS_CANVAS_ADMIN_PASSWORD go together")
	}
	if h := c.ProxyHeader; h != "" && (strings.ContainsAny(h, " :\t\r\n") || strings.EqualFold(h, "Authorization")) {
		bad("HOOKS_CANVAS_PROXY_HEADER", "%q is not a header name a proxy sets", h)
	}
	if c.ProxyHeader != "" && len(c.TrustedProxies) == 0 {
		bad("HOOKS_CANVAS_TRUSTED_PROXIES", "is required with HOOKS_CANVAS_PROXY_HEADER: the header is believed only from the proxies' addresses")
	}
	for _, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			bad("HOOKS_CANVAS_TRUSTED_PROXIES", "%q is not an address or CIDR prefix", p)
		}
	}
	switch c.Save {
	case SaveCommit:
	case SavePullRequest:
		if _, err := c.PullRequestRepo(cfg.SourceRepo); err != nil {
			bad("HOOKS_CANVAS_SAVE_REPO", "%v", err)
		}
		if cfg.GitHubToken == "" {
			bad("HOOKS_GITHUB_TOKEN", "is required with HOOKS_CANVAS_SAVE=%s: it opens the pull requests", SavePullRequest)
		}
	default:
		bad("HOOKS_CANVAS_SAVE", "%q is not %s or %s", c.Save, SaveCommit, SavePullRequest)
	}
	return errs
}
