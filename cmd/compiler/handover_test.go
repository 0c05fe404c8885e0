package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// closedKubeconfig writes a kubeconfig whose one context, local, names
// an API server on a loopback port nothing listens on.
func closedKubeconfig(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: not-a-real-token}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
`, addr)
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHandoverCommand checks the hand-over's command line: what it needs
// said, its help naming the permissions it needs, and its errors naming
// what failed. test/adopt runs it on a real cluster.
func TestHandoverCommand(t *testing.T) {
	t.Parallel()
	kubeconfig := closedKubeconfig(t)
	missing := filepath.Join(t.TempDir(), "none")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, 0,
			"It needs get, list and patch on deployments.apps, statefulsets.apps, daemonsets.apps, cronjobs.batch in NS, nothing else.", ""},
		{"no namespace", []string{"--kubeconfig", kubeconfig}, 2, "", "give the namespace KubeOrch deployed to: --namespace NS"},
		{"an argument", []string{"--namespace", "default", "orders"}, 2, "", `handover takes no arguments, got ["orders"]`},
		{"no kubeconfig", []string{"--namespace", "default", "--kubeconfig", missing}, 1, "", "kubeconfig: stat " + missing},
		{"no such context", []string{"--namespace", "default", "--kubeconfig", kubeconfig, "--context", "prod"}, 1, "", `kubeconfig: context "prod" does not exist`},
		{"no API server", []string{"--namespace", "shop", "--kubeconfig", kubeconfig}, 1, "", "compiler: hand-over: list deployments in shop: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(t, append([]string{"handover"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit code %d, want %d\nstdout: %s\nwant it to hold %q\nstderr: %s\nwant it to hold %q", code, tt.code, stdout, tt.stdout, stderr, tt.stderr)
			}
		})
	}
}
