package main

import (
	"strings"
	"testing"
)

func TestBootstrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"objects", []string{"bootstrap", "--cluster", "prod", "--url", "https://git.example.com/workflows.git", "--secret-ref", "git-auth"}, 0, []string{
			"kind: GitRepository\nmetadata:\n  name: slipway\n  namespace: flux-system\n",
			"  ref:\n    branch: deploy\n  secretRef:\n    name: git-auth\n  url: https://git.example.com/workflows.git\n",
			"kind: Kustomization\nmetadata:\n  name: slipway-prod\n  namespace: flux-system\n",
			"  path: ./clusters/prod\n  prune: true\n",
		}},
		{"no url", []string{"bootstrap", "--cluster", "prod"}, 2, []string{"the deploy repository's URL is required"}},
		{"bad cluster", []string{"bootstrap", "--cluster", "Prod", "--url", "x"}, 2, []string{`cluster "Prod"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCmd(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
}
