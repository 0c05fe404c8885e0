// Package review_test shows on the real stack what a pull request's review
// says the cluster will do once the change merges: the service dry-runs
// the changed objects against the cluster Flux applies them to, quotes
// the API server's refusal of a field that cannot change, and lists only
// the fields a harmless change changes.
package review_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/githubtest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/review"
	"github.com/slipway-gitops/slipway/workflow"
)

// Paths of the stack's binaries and of the checkout's root.
const (
	binDir = "../../.tools/kube/bin"
	root   = "../.."
)

// shop is the workflow: a StatefulSet db with a claim template, a
// 2-replica Deployment web whose GREETING is hello, and a Job migrate.
func shop(t *testing.T, patches ...testutil.Patch) []byte {
	t.Helper()
	nodes := []any{
		map[string]any{"id": "db", "type": "statefulset", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "db", "serviceName": "db-headless", "image": "postgres:16.4", "replicas": 1, "port": 5432,
			"resources":            map[string]any{"requests": map[string]any{"cpu": "50m"}},
			"volumeClaimTemplates": []any{map[string]any{"name": "data", "accessModes": []any{"ReadWriteOnce"}, "storage": "1Gi", "storageClassName": "standard"}}}},
		map[string]any{"id": "web", "type": "deployment", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "web", "image": "nginx:1.27", "replicas": 2, "port": 8080, "env": map[string]any{"GREETING": "hello"},
			"resources": map[string]any{"requests": map[string]any{"cpu": "50m"}}}},
		map[string]any{"id": "migrate", "type": "job", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "migrate", "image": "busybox:1.36", "resources": map[string]any{"requests": map[string]any{"cpu": "50m"}}}},
	}
	doc := map[string]any{"name": "shop", "namespace": "shop", "status": "published", "nodes": nodes, "edges": []any{}}
	return testutil.Marshal(t, testutil.Apply(t, doc, patches...))
}

// pullRequest is the review job the service queues for a pull request
// from base to head: GitHub's example "opened" payload with the commits
// set, read as the webhook handler reads it.
func pullRequest(t *testing.T, number int, base, head string) hooks.ReviewJob {
	t.Helper()
	for _, raw := range githubtest.Examples(t, root, "pull_request") {
		var e github.PullRequestEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.GetAction() != "opened" {
			continue
		}
		e.PullRequest.Number, e.PullRequest.Base.SHA, e.PullRequest.Head.SHA = github.Int(number), github.String(base), github.String(head)
		return hooks.ReviewJob{Repo: e.GetRepo().GetFullName(), Number: e.GetPullRequest().GetNumber(), BaseCommit: e.GetPullRequest().GetBase().GetSHA(), HeadCommit: e.GetPullRequest().GetHead().GetSHA()}
	}
	t.Fatal("no opened pull_request example")
	return hooks.ReviewJob{}
}

// fixture is the workflows repository, live on the stack.
type fixture struct {
	s    *kubetest.Stack
	repo *gitrepo.Repo
	c    *compiler.Compiler
	// base is the commit live on the stack; heads are pull requests on it.
	base string
	work string
}

// head commits workflow b on a branch from base and returns the commit.
func (f *fixture) head(t *testing.T, branch string, b []byte) string {
	t.Helper()
	gittest.Git(t, f.work, "checkout", "-q", "-b", branch, f.base)
	return gittest.Commit(t, f.work, branch, map[string][]byte{workflow.WorkflowFile("shop"): b})
}

// review reviews pull request job with a service that reads the cluster
// through cfg, and returns the comment it posted and the commit status.
// maxObjects, if given, caps the objects dry-run.
func (f *fixture) review(t *testing.T, job hooks.ReviewJob, cfg *rest.Config, maxObjects ...int) (comment string, status []string) {
	t.Helper()
	gh := githubtest.New(t, root)
	r, err := hooks.NewReviewer(hooks.ReviewerConfig{
		Source: f.repo, Compiler: f.c, GitHubToken: "test-token", GitHubAPIURL: gh.URL,
		Clusters: func(clusters []string) (map[string]*rest.Config, error) {
			return map[string]*rest.Config{"default": cfg}, nil
		},
		DryRun: review.DryRunOptions{FluxNamespace: compiler.DefaultOptions().SourceRefNamespace, Timeout: time.Minute, MaxObjects: slices.Max(append(maxObjects, 0))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Review(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	for _, body := range gh.Comments() {
		comment = body
	}
	return comment, gh.Statuses()
}

// dryRunSection is the dry-run part of a review comment.
func dryRunSection(t *testing.T, comment string) string {
	t.Helper()
	_, after, ok := strings.Cut(comment, "#### Dry-run against the clusters\n")
	if !ok {
		t.Fatalf("the comment has no dry-run:\n%s", comment)
	}
	section, _, _ := strings.Cut(after, "\n| workflow |")
	return section
}

func TestDryRun(t *testing.T) {
	s, gitRoot := kubetest.ForTest(t, binDir, true)
	ctx := t.Context()
	f := &fixture{s: s, work: gittest.Init(t)}
	bare := filepath.Join(gitRoot, "shop.git")
	gittest.InitBare(t, bare)
	f.base = gittest.Commit(t, f.work, "Add shop", map[string][]byte{workflow.WorkflowFile("shop"): shop(t)})
	gittest.Git(t, f.work, "push", "-q", bare, "main")
	var err error
	if f.c, err = compiler.New(compiler.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	deployRepo, err := gitrepo.Open(ctx, bare, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployer.New(deployRepo, deployRepo, f.c, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deploy(ctx); err != nil {
		t.Fatal(err)
	}
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: "default", URL: s.GitURL("shop.git"), Branch: "deploy", Interval: time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	// Flux has applied the workflow once both workloads are there.
	if err := s.Poll(ctx, 3*time.Minute, func() (bool, error) {
		_, errDB := s.Client.AppsV1().StatefulSets("shop").Get(ctx, "db", metav1.GetOptions{})
		_, errWeb := s.Client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		_, errJob := s.Client.BatchV1().Jobs("shop").Get(ctx, "migrate", metav1.GetOptions{})
		return errDB == nil && errWeb == nil && errJob == nil, nil
	}); err != nil {
		t.Fatalf("Flux applied shop: %v", err)
	}
	claims := f.head(t, "claims", shop(t, testutil.Set("/nodes/0/data/volumeClaimTemplates/0/storageClassName", "fast")))
	scale := f.head(t, "scale", shop(t, testutil.Set("/nodes/1/data/replicas", 3), testutil.Set("/nodes/1/data/env/GREETING", "hi"),
		testutil.Set("/nodes/-", map[string]any{"id": "extra", "type": "configmap", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
			"name": "extra", "data": map[string]any{"mode": "fast"}}})))
	if f.repo, err = gitrepo.Open(ctx, f.work, gitrepo.Options{}); err != nil {
		t.Fatal(err)
	}
	rerun := f.head(t, "rerun", shop(t, testutil.Set("/nodes/2/data/image", "busybox:1.37")))
	admin := s.Config

	t.Run("a claim template change quotes the API server's refusal", func(t *testing.T) {
		comment, statuses := f.review(t, pullRequest(t, 1, f.base, claims), admin)
		section := dryRunSection(t, comment)
		t.Logf("dry-run section:\n%s", section)
		for _, want := range []string{
			"**default**: 1 object: 1 refused\n",
			"- `default StatefulSet shop/db` (node `db`): refused by the API server",
			"  - `StatefulSet.apps \"db\" is invalid: spec.volumeClaimTemplates: Invalid value: ",
			`"StorageClassName":"fast"`,
			"]: field is immutable`\n",
		} {
			if !strings.Contains(section, want) {
				t.Errorf("the dry-run lacks %q", want)
			}
		}
		if fmt.Sprint(statuses) != "[success]" {
			t.Errorf("statuses %v, want [success]: a refusal is the review's finding, not its failure", statuses)
		}
	})

	scaled := "\n**default**: 2 objects: 1 created, 1 changed\n\n" +
		"- `default ConfigMap shop/extra` (node `extra`): created\n" +
		"- `default Deployment shop/web` (node `web`): changes\n" +
		"  - `spec.replicas: 2 → 3`\n" +
		"  - `spec.template.spec.containers[name=web].env[name=GREETING].value: \"hello\" → \"hi\"`\n"

	t.Run("a harmless change shows only the fields it changes", func(t *testing.T) {
		comment, _ := f.review(t, pullRequest(t, 2, f.base, scale), admin)
		if got := dryRunSection(t, comment); got != scaled {
			t.Errorf("dry-run section:\n%s\nwant:\n%s", got, scaled)
		}
	})

	t.Run("a Job's new template: Flux recreates it", func(t *testing.T) {
		comment, _ := f.review(t, pullRequest(t, 3, f.base, rerun), admin)
		section := dryRunSection(t, comment)
		for _, want := range []string{
			"**default**: 1 object: 1 recreated\n",
			"- `default Job shop/migrate` (node `migrate`): a field cannot change in place — Flux deletes the object and creates it again (force)\n",
			"field is immutable`\n",
		} {
			if !strings.Contains(section, want) {
				t.Errorf("the dry-run lacks %q:\n%s", want, section)
			}
		}
	})

	t.Run("objects past the cap are counted", func(t *testing.T) {
		comment, _ := f.review(t, pullRequest(t, 2, f.base, scale), admin, 1)
		want := "\n**default**: 1 object: 1 created\n\n_1 object not dry-run: a cluster's dry-run stops after 1 object_\n\n- `default ConfigMap shop/extra` (node `extra`): created\n"
		if got := dryRunSection(t, comment); got != want {
			t.Errorf("dry-run section:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("the permissions docs/service.md names suffice", func(t *testing.T) {
		grant(t, s, "slipway-review")
		cfg := rest.CopyConfig(admin)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "slipway-review"}
		comment, _ := f.review(t, pullRequest(t, 2, f.base, scale), cfg)
		if got := dryRunSection(t, comment); got != scaled {
			t.Errorf("dry-run section:\n%s\nwant:\n%s", got, scaled)
		}
	})

	t.Run("credentials that may not dry-run are said so, and the review posts", func(t *testing.T) {
		cfg := rest.CopyConfig(admin)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
		comment, statuses := f.review(t, pullRequest(t, 2, f.base, scale), cfg)
		want := "- `default Deployment shop/web` (node `web`): dry-run not allowed: `deployments.apps \"web\" is forbidden: User \"nobody\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"shop\"`\n"
		if section := dryRunSection(t, comment); !strings.Contains(section, want) {
			t.Errorf("dry-run section:\n%s\nwant it to hold:\n%s", section, want)
		}
		if fmt.Sprint(statuses) != "[success]" {
			t.Errorf("statuses %v, want [success]", statuses)
		}
	})

	t.Run("an unreachable cluster gets a note, and the review posts", func(t *testing.T) {
		cfg := rest.CopyConfig(admin)
		cfg.Host = "https://127.0.0.1:1"
		comment, statuses := f.review(t, pullRequest(t, 2, f.base, scale), cfg)
		if section := dryRunSection(t, comment); !strings.HasPrefix(section, "\n**default**: cluster unreachable, 2 objects not dry-run: ") {
			t.Errorf("dry-run section:\n%s", section)
		}
		if fmt.Sprint(statuses) != "[success]" {
			t.Errorf("statuses %v, want [success]", statuses)
		}
	})
}

// grant gives user, cluster-wide, the permissions the review's dry-run
// needs, as docs/service.md lists them.
func grant(t *testing.T, s *kubetest.Stack, user string) {
	t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"", "apps", "batch", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io", "kustomize.toolkit.fluxcd.io"},
			Resources: []string{"namespaces", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts",
				"deployments", "statefulsets", "daemonsets", "jobs", "cronjobs", "horizontalpodautoscalers",
				"ingresses", "networkpolicies", "roles", "rolebindings", "kustomizations"},
			Verbs: []string{"get", "create", "patch"},
		}},
	}
	if _, err := s.Client.RbacV1().ClusterRoles().Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if _, err := s.Client.RbacV1().ClusterRoleBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
