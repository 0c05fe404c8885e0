package hooks

import (
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// loadWith loads the configuration of a valid base environment changed
// by env.
func loadWith(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	all := map[string]string{
		"HOOKS_SOURCE_REPO":           "https://github.com/example/workflows.git",
		"HOOKS_GITHUB_WEBHOOK_SECRET": "s3cr3t-value-never-logged",
	}
	for k, v := range env {
		all[k] = v
	}
	return LoadConfig(t.Context(), envconfig.MapLookuper(all))
}

// TestReadIdentityHeaderNeedsLoopback: a service that lets a header an
// authenticating proxy sets stand for a login must be reachable through
// that proxy only, so it refuses to start listening beyond loopback.
func TestReadIdentityHeaderNeedsLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr, header string
		ok                 bool
	}{
		{"all interfaces", ":8080", "X-Forwarded-User", false},
		{"all IPv4 interfaces", "0.0.0.0:8080", "X-Forwarded-User", false},
		{"all IPv6 interfaces", "[::]:8080", "X-Forwarded-User", false},
		{"a public address", "192.0.2.7:8080", "X-Forwarded-User", false},
		{"a host name", "hooks.example.com:8080", "X-Forwarded-User", false},
		{"IPv4 loopback", "127.0.0.1:8080", "X-Forwarded-User", true},
		{"another IPv4 loopback", "127.0.0.2:8080", "X-Forwarded-User", true},
		{"IPv6 loopback", "[::1]:8080", "X-Forwarded-User", true},
		{"localhost", "localhost:8080", "X-Forwarded-User", true},
		{"no header, all interfaces", ":8080", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadWith(t, map[string]string{"HOOKS_ADDR": tc.addr, "HOOKS_READ_IDENTITY_HEADER": tc.header})
			switch {
			case tc.ok && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Error("accepted")
			case !tc.ok && !strings.Contains(err.Error(), "HOOKS_READ_IDENTITY_HEADER: is trusted from every client, and HOOKS_ADDR"):
				t.Errorf("the error does not say why: %v", err)
			}
		})
	}
}

func TestJobConfig(t *testing.T) {
	t.Parallel()
	c, err := loadWith(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.JobTimeout != 5*time.Minute || c.JobConcurrency != 4 {
		t.Errorf("defaults: timeout %s, concurrency %d", c.JobTimeout, c.JobConcurrency)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"timeout too short", map[string]string{"HOOKS_JOB_TIMEOUT": "10ms"}, "HOOKS_JOB_TIMEOUT: 10ms is not between 1s and 1h"},
		{"timeout too long", map[string]string{"HOOKS_JOB_TIMEOUT": "2h"}, "HOOKS_JOB_TIMEOUT: 2h0m0s is not between 1s and 1h"},
		{"no concurrency", map[string]string{"HOOKS_JOB_CONCURRENCY": "0"}, "HOOKS_JOB_CONCURRENCY: 0 is not between 1 and 64"},
		{"not a number", map[string]string{"HOOKS_JOB_CONCURRENCY": "many"}, "HOOKS_JOB_CONCURRENCY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := loadWith(t, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
