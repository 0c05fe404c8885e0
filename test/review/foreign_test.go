package review_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/workflow"
)

// TestDryRunHidesObjectsNotTheWorkflows: a pull request's author, less
// trusted than the operator, names a namespace and a ConfigMap of another
// team's. The review's dry-run, with the permissions docs/service.md
// names, says Flux would take the object over, and quotes none of its
// live values, nor whether they change, in the pull request's comment.
func TestDryRunHidesObjectsNotTheWorkflows(t *testing.T) {
	s, _ := kubetest.ForTest(t, binDir, false)
	ctx := t.Context()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().ConfigMaps("payments").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "db-config", Namespace: "payments"},
		Data: map[string]string{"dsn": "postgres://payments:live-value-of-payments@db/payments"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: s, work: gittest.Init(t)}
	f.base = gittest.Commit(t, f.work, "Add shop", map[string][]byte{workflow.WorkflowFile("shop"): shop(t)})
	head := f.head(t, "peek", shop(t, testutil.Set("/namespace", "payments"),
		testutil.Set("/nodes/-", map[string]any{"id": "peek", "type": "configmap", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "db-config", "data": map[string]any{"dsn": "x"}}})))
	var err error
	if f.c, err = compiler.New(compiler.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if f.repo, err = gitrepo.Open(ctx, f.work, gitrepo.Options{}); err != nil {
		t.Fatal(err)
	}
	grant(t, s, "slipway-review")
	cfg := rest.CopyConfig(s.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "slipway-review"}
	comment, _ := f.review(t, pullRequest(t, 9, f.base, head), cfg)
	section := dryRunSection(t, comment)
	if strings.Contains(comment, "live-value-of-payments") {
		t.Errorf("the review comment quotes another team's live ConfigMap value:\n%s", section)
	}
	const want = "- `default ConfigMap payments/db-config` (node `peek`): exists and is not the workflow's — Flux takes it over; its live fields are not shown\n"
	if !strings.Contains(section, want) {
		t.Errorf("the dry-run lacks %q:\n%s", want, section)
	}
}
