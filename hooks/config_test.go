package hooks

import (
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"HOOKS_SOURCE_REPO":           "https://github.com/example/workflows.git",
		"HOOKS_GITHUB_WEBHOOK_SECRET": "s3cr3t-value-never-logged",
	}
	c, err := LoadConfig(t.Context(), envconfig.MapLookuper(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.SourceBranch != "main" || c.DeployBranch != "deploy" || c.DeployRepo != c.SourceRepo || c.GitHubAPIURL != "https://api.github.com/" || c.DataDir == "" || c.DeployInterval != 100*time.Millisecond || c.ResyncInterval != time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	if cv := c.Canvas; cv.Enabled || cv.TokenTTL != 24*time.Hour {
		t.Errorf("canvas defaults: %+v", cv)
	}
	if m := c.Canvas.SessionMax; m != 7*24*time.Hour {
		t.Errorf("canvas session lifetime %s, want 168h", m)
	}
	if b := c.Builds; b.Enabled() || b.Namespace != "slipway-builds" || b.Timeout != 30*time.Minute || b.Retries != 1 || !strings.Contains(b.BuilderImage, "rootless") {
		t.Errorf("build defaults: %+v", b)
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"no source", map[string]string{"HOOKS_SOURCE_REPO": ""}, []string{"HOOKS_SOURCE_REPO: is required"}},
		{"no secret", map[string]string{"HOOKS_GITHUB_WEBHOOK_SECRET": ""}, []string{"HOOKS_GITHUB_WEBHOOK_SECRET: is required"}},
		{"whitespace secret", map[string]string{"HOOKS_GITHUB_WEBHOOK_SECRET": " "}, []string{"HOOKS_GITHUB_WEBHOOK_SECRET: is only whitespace"}},
		{"long whitespace secret", map[string]string{"HOOKS_GITHUB_WEBHOOK_SECRET": strings.Repeat(" \t", 20)}, []string{"HOOKS_GITHUB_WEBHOOK_SECRET: is only whitespace"}},
		{"short secret", map[string]string{"HOOKS_GITHUB_WEBHOOK_SECRET": "s3cr3t"}, []string{"HOOKS_GITHUB_WEBHOOK_SECRET: is shorter than 16"}},
		{"bad addr", map[string]string{"HOOKS_ADDR": "8080"}, []string{`HOOKS_ADDR: "8080" is not host:port`}},
		{"same branch", map[string]string{"HOOKS_DEPLOY_BRANCH": "main"}, []string{"HOOKS_DEPLOY_BRANCH: \"main\" is the source branch too"}},
		{"bad branch", map[string]string{"HOOKS_SOURCE_BRANCH": "a b"}, []string{`HOOKS_SOURCE_BRANCH: "a b" is not a branch name`}},
		{"bad api url", map[string]string{"HOOKS_GITHUB_API_URL": "ftp://x"}, []string{"HOOKS_GITHUB_API_URL"}},
		{"short token", map[string]string{"HOOKS_API_TOKENS": "abcdefghijklmnopq,short"}, []string{"HOOKS_API_TOKENS: token 2 is shorter"}},
		{"negative interval", map[string]string{"HOOKS_DEPLOY_INTERVAL": "-1s"}, []string{"HOOKS_DEPLOY_INTERVAL: -1s is not between"}},
		{"not a duration", map[string]string{"HOOKS_DEPLOY_INTERVAL": "soon"}, []string{"HOOKS_DEPLOY_INTERVAL"}},
		{"resync too often", map[string]string{"HOOKS_RESYNC_INTERVAL": "10ms"}, []string{"HOOKS_RESYNC_INTERVAL: 10ms is not between 1s and 24h"}},
		{"bad etcd", map[string]string{"HOOKS_ETCD_ENDPOINTS": "localhost"}, []string{`HOOKS_ETCD_ENDPOINTS: "localhost" is not a URL`}},
		{"short read token", map[string]string{"HOOKS_READ_TOKENS": "short"}, []string{"HOOKS_READ_TOKENS: token 1 is shorter"}},
		{"bad identity header", map[string]string{"HOOKS_READ_IDENTITY_HEADER": "Authorization"}, []string{"HOOKS_READ_IDENTITY_HEADER"}},
		{"missing kubeconfig", map[string]string{"HOOKS_KUBECONFIG": "/nonexistent/kubeconfig"}, []string{"HOOKS_KUBECONFIG: stat /nonexistent/kubeconfig"}},
		{"builds without a cluster", map[string]string{"HOOKS_BUILD_REGISTRY": "registry.example.com/team"}, []string{"HOOKS_BUILD_REGISTRY: builds run as Kubernetes Jobs: HOOKS_KUBECONFIG is required"}},
		{"registry URL", map[string]string{"HOOKS_BUILD_REGISTRY": "https://registry.example.com"}, []string{`HOOKS_BUILD_REGISTRY: "https://registry.example.com" is not a registry host and path`}},
		{"build timeout", map[string]string{"HOOKS_BUILD_REGISTRY": "r.example.com", "HOOKS_BUILD_TIMEOUT": "1s"}, []string{"HOOKS_BUILD_TIMEOUT: 1s is not between 10s and 24h"}},
		{"build retries", map[string]string{"HOOKS_BUILD_REGISTRY": "r.example.com", "HOOKS_BUILD_RETRIES": "many"}, []string{"HOOKS_BUILD_RETRIES"}},
		{"build memory", map[string]string{"HOOKS_BUILD_REGISTRY": "r.example.com", "HOOKS_BUILD_MEMORY": "lots"}, []string{`HOOKS_BUILD_MEMORY: "lots" is not a quantity`}},
		{"builds kept", map[string]string{"HOOKS_BUILD_REGISTRY": "r.example.com", "HOOKS_BUILD_KEEP": "-1"}, []string{"HOOKS_BUILD_KEEP: -1 is not between 0 (keep every build) and 10000"}},
		{"build namespace", map[string]string{"HOOKS_BUILD_REGISTRY": "r.example.com", "HOOKS_BUILD_NAMESPACE": "Builds"}, []string{`HOOKS_BUILD_NAMESPACE: "Builds" is not a namespace name`}},
		{"canvas origin with a path", map[string]string{"HOOKS_CANVAS_ORIGINS": "http://127.0.0.1:3000/app"}, []string{`HOOKS_CANVAS_ORIGINS: "http://127.0.0.1:3000/app" is not an origin`}},
		{"canvas token TTL", map[string]string{"HOOKS_CANVAS_TOKEN_TTL": "1s"}, []string{"HOOKS_CANVAS_TOKEN_TTL: 1s is not between 1m and 720h"}},
		{"canvas session shorter than its token", map[string]string{"HOOKS_CANVAS_TOKEN_TTL": "48h", "HOOKS_CANVAS_SESSION_MAX": "24h"}, []string{"HOOKS_CANVAS_SESSION_MAX: 24h0m0s is not between HOOKS_CANVAS_TOKEN_TTL (48h0m0s) and 2160h"}},
		{"canvas session too long", map[string]string{"HOOKS_CANVAS_SESSION_MAX": "2161h"}, []string{"HOOKS_CANVAS_SESSION_MAX: 2161h0m0s is not between"}},
		{"canvas admin without password", map[string]string{"HOOKS_CANVAS_ADMIN_EMAIL": "ada@example.com"}, []string{"HOOKS_CANVAS_ADMIN_PASSWORD: HOOKS_CANVAS_ADMIN_EMAIL and HOOKS_CANVAS_ADMIN_PASSWORD go together"}},
		{"canvas proxy header untrusted", map[string]string{"HOOKS_CANVAS_PROXY_HEADER": "X-Forwarded-Email"}, []string{"HOOKS_CANVAS_TRUSTED_PROXIES: is required"}},
		{"canvas proxy header Authorization", map[string]string{"HOOKS_CANVAS_PROXY_HEADER": "authorization", "HOOKS_CANVAS_TRUSTED_PROXIES": "10.0.0.1"}, []string{"HOOKS_CANVAS_PROXY_HEADER"}},
		{"canvas bad proxy", map[string]string{"HOOKS_CANVAS_PROXY_HEADER": "X-Email", "HOOKS_CANVAS_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{`HOOKS_CANVAS_TRUSTED_PROXIES: "10.0.0.0/33" is not an address or CIDR prefix`}},
		{"several at once", map[string]string{"HOOKS_SOURCE_REPO": "", "HOOKS_ADDR": "x"}, []string{"HOOKS_SOURCE_REPO", "HOOKS_ADDR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := LoadConfig(t.Context(), envconfig.MapLookuper(env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}
