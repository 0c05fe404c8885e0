// Package hooks is the webhook service teams run next to Flux: GitHub
// webhooks verified and queued in etcd, a worker that deploys pushes and
// reviews pull requests on the leading replica, and a JSON API.
package hooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/slipway-gitops/slipway/build"
)

// Config is the service's configuration, read from the environment. Every
// variable is documented in docs/service.md.
type Config struct {
	// Addr is the listen address.
	Addr string `env:"HOOKS_ADDR, default=:8080"`
	// SourceRepo is the workflows repository: a path or URL.
	SourceRepo string `env:"HOOKS_SOURCE_REPO"`
	// SourceBranch is the branch deployed on push.
	SourceBranch string `env:"HOOKS_SOURCE_BRANCH, default=main"`
	// DeployRepo holds the deploy branch; it defaults to SourceRepo.
	DeployRepo string `env:"HOOKS_DEPLOY_REPO"`
	// DeployBranch is the branch Flux reads.
	DeployBranch string `env:"HOOKS_DEPLOY_BRANCH, default=deploy"`
	// WebhookSecret verifies X-Hub-Signature-256.
	WebhookSecret string `env:"HOOKS_GITHUB_WEBHOOK_SECRET"`
	// GitHubToken authenticates comments and statuses.
	GitHubToken string `env:"HOOKS_GITHUB_TOKEN"`
	// GitHubAPIURL is GitHub's REST API.
	GitHubAPIURL string `env:"HOOKS_GITHUB_API_URL, default=https://api.github.com/"`
	// APITokens may call the write API (bearer tokens).
	APITokens []string `env:"HOOKS_API_TOKENS"`
	// DataDir holds the embedded etcd and repository clones.
	DataDir string `env:"HOOKS_DATA_DIR, default=./hooks-data"`
	// EtcdEndpoints name an external etcd; empty runs an embedded one.
	EtcdEndpoints []string `env:"HOOKS_ETCD_ENDPOINTS"`
	// DeployInterval is the least time between the starts of two deploys:
	// pushes that arrive meanwhile are covered by one deploy.
	DeployInterval time.Duration `env:"HOOKS_DEPLOY_INTERVAL, default=100ms"`
	// ResyncInterval is how often the deploy branch is converged to the
	// source without a push, and the longest wait before a failed
	// convergence is retried.
	ResyncInterval time.Duration `env:"HOOKS_RESYNC_INTERVAL, default=1m"`
	// Kubeconfig lets the service watch the clusters; empty for none.
	Kubeconfig string `env:"HOOKS_KUBECONFIG"`
	// ReadTokens, when set, are required (as bearer tokens) to read the
	// API and the status page, unless ReadIdentityHeader is present.
	ReadTokens []string `env:"HOOKS_READ_TOKENS"`
	// ReadIdentityHeader names the header an authenticating proxy sets.
	ReadIdentityHeader string `env:"HOOKS_READ_IDENTITY_HEADER"`
	// StatusMinWrite is the least time between two writes of one status
	// record.
	StatusMinWrite time.Duration `env:"HOOKS_STATUS_MIN_WRITE, default=1s"`
	// FluxSource is the namespace/name of Flux's GitRepository of the
	// deploy branch, asked to reconcile after each deploy commit; its
	// namespace is where the compiler puts the workflows' Kustomizations.
	FluxSource string `env:"HOOKS_FLUX_SOURCE, default=slipway/slipway"`
	// FluxMoveFrom, while Slipway's Flux objects move to FluxSource's
	// namespace, is the namespace they leave (the compiler's
	// --move-from-namespace).
	FluxMoveFrom string `env:"HOOKS_FLUX_MOVE_FROM"`
	// FluxWorkflowSources renders for each workflow a GitRepository of its
	// own, which reads a ref of the deploy repository that the service
	// moves only when a deploy changes the workflow's tree, so that Flux
	// reconciles only the workflows a push changed (the compiler's
	// --workflow-sources; bootstrap with --workflow-sources).
	FluxWorkflowSources bool `env:"HOOKS_FLUX_WORKFLOW_SOURCES"`

	// JobTimeout bounds one attempt of a queued job (a pull-request
	// review), its GitHub calls and fetches included.
	JobTimeout time.Duration `env:"HOOKS_JOB_TIMEOUT, default=5m"`
	// JobConcurrency is how many queued jobs run at once, so that a slow
	// one does not hold the others.
	JobConcurrency int `env:"HOOKS_JOB_CONCURRENCY, default=4"`
	// Events bounds the event streams (HOOKS_EVENTS_*).
	Events EventsConfig
	// Builds says where and how images are built (HOOKS_BUILD_*).
	Builds build.Config
	// Canvas configures the API of KubeOrch's canvas editor
	// (HOOKS_CANVAS_*).
	Canvas CanvasConfig
}

// LoadConfig reads the configuration from lookup (the environment when
// nil) and validates it. Its errors name the variable at fault.
func LoadConfig(ctx context.Context, lookup envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: lookup}); err != nil {
		return nil, fmt.Errorf("config: %s%w", variableOf(err), err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.DeployRepo == "" {
		c.DeployRepo = c.SourceRepo
	}
	return &c, nil
}

// variableOf returns "NAME: " for the variable whose field go-envconfig's
// error names ("DeployInterval: time: invalid duration", "Events:
// MaxStreams: …" for a field of a group), or "".
func variableOf(err error) string {
	t := reflect.TypeFor[Config]()
	for _, field := range strings.Split(err.Error(), ": ") {
		f, ok := t.FieldByName(field)
		if !ok {
			return ""
		}
		if f.Type.Kind() != reflect.Struct {
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			return name + ": "
		}
		t = f.Type
	}
	return ""
}

// Validate reports every invalid variable.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		bad("HOOKS_ADDR", "%q is not host:port", c.Addr)
	}
	if c.SourceRepo == "" {
		bad("HOOKS_SOURCE_REPO", "is required: the workflows repository, a path or URL")
	}
	for name, v := range map[string]string{"HOOKS_SOURCE_BRANCH": c.SourceBranch, "HOOKS_DEPLOY_BRANCH": c.DeployBranch} {
		if v == "" || strings.ContainsAny(v, " ~^:?*[\\") || strings.HasPrefix(v, "-") {
			bad(name, "%q is not a branch name", v)
		}
	}
	if c.SourceBranch == c.DeployBranch && (c.DeployRepo == "" || c.DeployRepo == c.SourceRepo) {
		bad("HOOKS_DEPLOY_BRANCH", "%q is the source branch too; deploys would overwrite the workflows", c.DeployBranch)
	}
	switch {
	case c.WebhookSecret == "":
		bad("HOOKS_GITHUB_WEBHOOK_SECRET", "is required: webhooks are verified before anything happens")
	case strings.TrimSpace(c.WebhookSecret) == "":
		bad("HOOKS_GITHUB_WEBHOOK_SECRET", "is only whitespace; use a random value of %d or more characters", MinSecretLength)
	case len(c.WebhookSecret) < MinSecretLength:
		bad("HOOKS_GITHUB_WEBHOOK_SECRET", "is shorter than %d characters; use a random value", MinSecretLength)
	}
	if u, err := url.Parse(c.GitHubAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("HOOKS_GITHUB_API_URL", "%q is not an http(s) URL", c.GitHubAPIURL)
	}
	for i, t := range c.APITokens {
		if len(t) < 16 {
			bad("HOOKS_API_TOKENS", "token %d is shorter than 16 characters", i+1)
		}
	}
	for i, t := range c.ReadTokens {
		if len(t) < 16 {
			bad("HOOKS_READ_TOKENS", "token %d is shorter than 16 characters", i+1)
		}
	}
	if h := c.ReadIdentityHeader; h != "" && (strings.ContainsAny(h, " :\t\r\n") || strings.EqualFold(h, "Authorization")) {
		bad("HOOKS_READ_IDENTITY_HEADER", "%q is not a header name a proxy sets", h)
	}
	if c.ReadIdentityHeader != "" && !loopback(c.Addr) {
		bad("HOOKS_READ_IDENTITY_HEADER", "is trusted from every client, and HOOKS_ADDR %q listens beyond loopback, where anyone may send it; "+
			"listen on 127.0.0.1 behind the authenticating proxy, or use HOOKS_READ_TOKENS", c.Addr)
	}
	if c.StatusMinWrite < 0 || c.StatusMinWrite > time.Minute {
		bad("HOOKS_STATUS_MIN_WRITE", "%s is not between 0 and 1m", c.StatusMinWrite)
	}
	if ns, name, ok := strings.Cut(c.FluxSource, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		bad("HOOKS_FLUX_SOURCE", "%q is not namespace/name", c.FluxSource)
	}
	if c.Kubeconfig != "" {
		if _, err := os.Stat(c.Kubeconfig); err != nil {
			bad("HOOKS_KUBECONFIG", "%v", err)
		}
	}
	for _, e := range c.EtcdEndpoints {
		if u, err := url.Parse(e); err != nil || u.Scheme == "" || u.Host == "" {
			bad("HOOKS_ETCD_ENDPOINTS", "%q is not a URL", e)
		}
	}
	if c.DeployInterval < 0 || c.DeployInterval > time.Hour {
		bad("HOOKS_DEPLOY_INTERVAL", "%s is not between 0 and 1h", c.DeployInterval)
	}
	if c.ResyncInterval < time.Second || c.ResyncInterval > 24*time.Hour {
		bad("HOOKS_RESYNC_INTERVAL", "%s is not between 1s and 24h", c.ResyncInterval)
	}
	if len(c.EtcdEndpoints) == 0 && c.DataDir == "" {
		bad("HOOKS_DATA_DIR", "is required for the embedded etcd")
	}
	if c.JobTimeout < time.Second || c.JobTimeout > time.Hour {
		bad("HOOKS_JOB_TIMEOUT", "%s is not between 1s and 1h", c.JobTimeout)
	}
	if c.JobConcurrency < 1 || c.JobConcurrency > 64 {
		bad("HOOKS_JOB_CONCURRENCY", "%d is not between 1 and 64", c.JobConcurrency)
	}
	errs = append(errs, c.Events.validate()...)
	errs = append(errs, c.Builds.Validate()...)
	errs = append(errs, c.Canvas.validate(c)...)
	if c.Builds.Enabled() && c.Kubeconfig == "" {
		bad("HOOKS_BUILD_REGISTRY", "builds run as Kubernetes Jobs: HOOKS_KUBECONFIG is required")
	}
	return errors.Join(errs...)
}

// loopback reports whether addr (host:port) listens on a loopback address
// only: an empty host or 0.0.0.0 listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
