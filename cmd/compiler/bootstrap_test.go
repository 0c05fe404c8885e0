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
		// lack are what the output must not hold.
		lack []string
	}{
		{"objects", []string{"bootstrap", "--cluster", "prod", "--url", "https://git.example.com/workflows.git", "--secret-ref", "git-auth"}, 0, []string{
			"kind: Namespace\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: slipway\n  name: slipway\n",
			"kind: GitRepository\nmetadata:\n  name: slipway\n  namespace: slipway\n",
			"  ref:\n    branch: deploy\n  secretRef:\n    name: git-auth\n  url: https://git.example.com/workflows.git\n",
			"kind: Kustomization\nmetadata:\n  name: slipway-prod\n  namespace: slipway\n",
			"kind: Receiver\n",
			"  resources:\n  - kind: GitRepository\n    name: slipway\n  secretRef:\n    name: slipway-receiver\n  type: github\n",
			"kind: ClusterRoleBinding\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: slipway\n  name: slipway-status-reader\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: slipway-status-reader\nsubjects:\n- kind: ServiceAccount\n  name: slipway-status-reader\n  namespace: slipway\n---\n",
			"  path: ./clusters/prod\n  prune: true\n  retryInterval: 1m0s\n  serviceAccountName: slipway-cluster-prod\n",
			"kind: ClusterRole\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: slipway\n  name: slipway-cluster-prod\nrules:\n- apiGroups:\n  - \"\"\n  resources:\n  - namespaces\n",
		}, []string{"rolebindings", "bind", "flux-system", "kind: Alert", "kind: Provider"}},
		{"alert", []string{"bootstrap", "--cluster", "prod", "--url", "https://git.example.com/workflows.git", "--alert-url", "https://events.example.com/flux", "--alert-secret", "slipway-alert", "--receiver-secret", "", "--service-user", "system:serviceaccount:ops:hooks"}, 0, []string{
			"kind: Provider\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: slipway\n  name: slipway\n  namespace: slipway\nspec:\n  address: https://events.example.com/flux\n  secretRef:\n    name: slipway-alert\n  type: generic-hmac\n",
			"kind: Alert\n",
			"subjects:\n- kind: ServiceAccount\n  name: slipway-status-reader\n  namespace: slipway\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: system:serviceaccount:ops:hooks\n",
		}, []string{"kind: Receiver"}},
		{"move", []string{"bootstrap", "--cluster", "prod", "--url", "https://git.example.com/workflows.git", "--move-from-namespace", "flux-system"}, 0, []string{
			"kind: Role\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: slipway\n  name: slipway-cluster-prod\n  namespace: flux-system\n",
			"subjects:\n- kind: ServiceAccount\n  name: slipway-cluster-prod\n  namespace: slipway\n",
		}, nil},
		{"alert without secret", []string{"bootstrap", "--cluster", "prod", "--url", "x", "--alert-url", "https://events.example.com/flux"}, 2, []string{"an alert needs both its URL and its secret"}, nil},
		{"move from itself", []string{"bootstrap", "--cluster", "prod", "--url", "x", "--move-from-namespace", "slipway"}, 2, []string{`namespace to move from "slipway" is the Flux namespace itself`}, nil},
		{"tenancy", []string{"bootstrap", "--cluster", "prod", "--url", "https://git.example.com/workflows.git", "--tenancy"}, 0, []string{
			"  resources:\n  - serviceaccounts\n",
			"  resources:\n  - rolebindings\n",
			"- apiGroups:\n  - rbac.authorization.k8s.io\n  resourceNames:\n  - admin\n  resources:\n  - clusterroles\n  verbs:\n  - bind\n",
		}, nil},
		{"no url", []string{"bootstrap", "--cluster", "prod"}, 2, []string{"the deploy repository's URL is required"}, nil},
		{"bad cluster", []string{"bootstrap", "--cluster", "Prod", "--url", "x"}, 2, []string{`cluster "Prod"`}, nil},
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
			for _, l := range tt.lack {
				if strings.Contains(out, l) {
					t.Errorf("output holds %q, a right only tenancy needs:\n%s", l, out)
				}
			}
		})
	}
}
