package ui

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/browsertest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/registrytest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/workflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	// apiRepo is where the fixture's api node is built from.
	apiRepo = "https://github.com/example/shop-api.git"
	commitA = "1111111111111111111111111111111111111111"
	commitB = "2222222222222222222222222222222222222222"
	// buildNamespace is where the builds' Jobs run.
	buildNamespace = "builds"
)

// TestBuildRows renders a build's row at each step against golden HTML.
func TestBuildRows(t *testing.T) {
	t.Parallel()
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	ended := created.Add(95*time.Second + 600*time.Millisecond)
	base := build.Record{ID: "0123456789abcdef0123", Workflow: "shop", Node: "api", RepoURL: apiRepo, Branch: "main", Commit: commitA, CreatedAt: created}
	with := func(change func(r *build.Record)) build.Record {
		r := base
		change(&r)
		return r
	}
	tests := []struct {
		name string
		r    build.Record
	}{
		{"pending", with(func(r *build.Record) { r.Status = build.Pending })},
		{"building", with(func(r *build.Record) { r.Status, r.Progress = build.Building, 30 })},
		{"completed", with(func(r *build.Record) {
			r.Status, r.Progress, r.CompletedAt, r.Duration = build.Completed, 100, &ended, ended.Sub(created).Milliseconds()
			r.FinalImageRef = "registry.example/team/example/shop-api:111111111111@sha256:" + strings.Repeat("ab", 32)
			r.WriteBack = strings.Repeat("c", 40)
		})},
		{"write-back skipped", with(func(r *build.Record) {
			r.Status, r.Progress, r.CompletedAt, r.Duration = build.Completed, 100, &ended, 400
			r.FinalImageRef = "registry.example/team/example/shop-api:111111111111@sha256:" + strings.Repeat("ab", 32)
			r.WriteBackSkipped = "node api was changed since the build started"
		})},
		{"failed", with(func(r *build.Record) {
			r.Status, r.Progress, r.CompletedAt, r.Duration = build.Failed, 10, &ended, 2*time.Hour.Milliseconds()+61000
			r.Error = "step clone failed with exit code 128"
		})},
		{"cancelled", with(func(r *build.Record) {
			r.Status, r.CompletedAt = build.Cancelled, &ended
			r.Error = "superseded by build 9999 of commit " + commitB
		})},
		{"hostile", with(func(r *build.Record) {
			r.Status, r.CompletedAt = build.Failed, &ended
			r.Error = `<script>alert("x")</script>`
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := p.tmpl.ExecuteTemplate(&buf, "build-row", tt.r); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", "build-"+strings.ReplaceAll(tt.name, " ", "-")+".golden")
			if *update {
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("row:\n%s\nwant (%s):\n%s", got, file, want)
			}
		})
	}
}

// TestWorkflowBuilds groups a workflow's builds by node, newest first,
// the nodes that build in the workflow's order, then those that built and
// are gone.
func TestWorkflowBuilds(t *testing.T) {
	t.Parallel()
	wf := &workflow.Workflow{Nodes: []workflow.Node{
		{ID: "web", Spec: &workflow.DeploymentData{Container: workflow.Container{Image: "nginx:1", Build: &workflow.BuildSpec{RepoURL: apiRepo, Context: "web"}}}},
		{ID: "db", Spec: &workflow.DeploymentData{Container: workflow.Container{Image: "postgres:17", Build: &workflow.BuildSpec{Context: "db"}}}},
		{ID: "api", Spec: &workflow.DeploymentData{Container: workflow.Container{Image: "api:1", Build: &workflow.BuildSpec{RepoURL: apiRepo, Context: "api"}}}},
	}}
	var all []*build.Record
	for i := range recentBuilds + 2 {
		all = append(all, &build.Record{ID: fmt.Sprintf("api-%02d", i), Workflow: "shop", Node: "api"})
	}
	all = append(all, &build.Record{ID: "old-1", Workflow: "shop", Node: "old"}, &build.Record{ID: "blog-1", Workflow: "blog", Node: "web"},
		&build.Record{ID: "gone-1", Workflow: "shop", Node: "gone"})
	d := workflowBuilds(wf, "shop", all)
	var got []string
	for _, n := range d.Nodes {
		var ids []string
		for _, r := range n.Builds {
			ids = append(ids, r.ID)
		}
		got = append(got, n.ID+":"+strings.Join(ids, ","))
	}
	want := []string{"web:", "api:api-00,api-01,api-02,api-03,api-04,api-05,api-06,api-07,api-08,api-09", "gone:gone-1", "old:old-1"}
	if fmt.Sprint(got) != fmt.Sprint(want) || d.Keep != recentBuilds {
		t.Errorf("nodes %q (keep %d), want %q (keep %d)", got, d.Keep, want, recentBuilds)
	}
}

// buildSite is the page with builds on: the shop's api builds from
// apiRepo, the builds push to a real registry on loopback and write back
// to the page's workflows; their Jobs and pods are objects of a
// Kubernetes API the test plays the cluster's part in.
type buildSite struct {
	*site
	svc  *build.Service
	kube kubernetes.Interface
}

func serveBuilds(t *testing.T) *buildSite {
	t.Helper()
	bs := &buildSite{kube: fake.NewClientset()}
	registry := registrytest.Serve(t)
	bs.site = serveWith(t, hooks.ReadAccess{}, true, func(work string, s *store.Store) Builds {
		gittest.Commit(t, work, "Build the api", map[string][]byte{
			"workflows/shop.json": gittest.FixtureFile(t, "../../fixtures/repo", "workflows/shop.json",
				testutil.Set("/nodes/4/data/build", map[string]any{"repoUrl": apiRepo, "context": "api"})),
		})
		source, err := gitrepo.Open(t.Context(), work, gitrepo.Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		bs.svc, err = build.NewService(build.ServiceConfig{
			Config: build.Config{Registry: registry + "/team", RegistryInsecure: true, Namespace: buildNamespace,
				CloneImage: "alpine/git:v2.47.2", BuilderImage: "moby/buildkit:v0.23.2-rootless", PushImage: "gcr.io/go-containerregistry/crane:v0.20.6",
				CPU: "1", Memory: "2Gi", Timeout: 30 * time.Minute, Retries: 1, Resync: 10 * time.Second, PolicyInterval: time.Hour},
			Records: s, Sessions: s, ID: "test", Kube: bs.kube,
			Source: source, SourceBranch: "main", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@localhost"},
			Deploy: func(context.Context) error { return nil },
			Log:    slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = bs.svc.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		return bs.svc
	})
	return bs
}

// pod creates or updates the status of a build's pod: the containers
// named in ended ended with their exit codes (the last one's termination
// message msg), and running, when set, runs.
func (bs *buildSite) pod(t *testing.T, id, running string, msg string, ended ...any) {
	t.Helper()
	pods := bs.kube.CoreV1().Pods(buildNamespace)
	p, err := pods.Get(t.Context(), build.JobName(id)+"-pod", metav1.GetOptions{})
	if err != nil {
		p, err = pods.Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: build.JobName(id) + "-pod", Namespace: buildNamespace,
			Labels: map[string]string{build.LabelBuild: id}}, Status: corev1.PodStatus{Phase: corev1.PodPending}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	var statuses []corev1.ContainerStatus
	for i := 0; i < len(ended); i += 2 {
		st := corev1.ContainerStatus{Name: ended[i].(string), State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(ended[i+1].(int))}}}
		if i == len(ended)-2 {
			st.State.Terminated.Message = msg
		}
		statuses = append(statuses, st)
	}
	if running != "" {
		statuses = append(statuses, corev1.ContainerStatus{Name: running, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	}
	p.Status.InitContainerStatuses, p.Status.ContainerStatuses = nil, nil
	for _, st := range statuses {
		if st.Name == "push" {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
		} else {
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, st)
		}
	}
	if _, err := pods.UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// failJob marks a build's Job failed, as the Job controller does when no
// retries are left, once the service made the Job.
func (bs *buildSite) failJob(t *testing.T, id string) {
	t.Helper()
	jobs := bs.kube.BatchV1().Jobs(buildNamespace)
	var j *batchv1.Job
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		j, err = jobs.Get(ctx, build.JobName(id), metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no Job for build %s: %v", id, err)
	}
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
		Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit"})
	if _, err := jobs.UpdateStatus(t.Context(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// readBuilds is each build row as a reader sees it.
const readBuilds = `Array.from(document.querySelectorAll("tr[data-build]")).map(tr => {
	const f = n => tr.querySelector('[data-field="' + n + '"]');
	return [tr.closest("[data-build-node]").dataset.buildNode, tr.dataset.build, tr.className, f("build-id").textContent, f("build-commit").textContent,
		f("build-commit").title, f("build-step").className, f("build-step").textContent, f("build-progress").value, f("build-percent").textContent,
		f("build-image").textContent, f("build-duration").textContent, f("build-note").textContent].join("|");
}).join("\n")`

// TestBrowserBuildProgress: a build's row appears on the open workflow
// page and moves, in place and without reload, through each step the
// build's pod reports, to its image by digest and its write-back; a
// failed build shows why; without JavaScript the page reads the same; and
// a deleted build's row goes.
func TestBrowserBuildProgress(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Start(t, 4*time.Minute)
	browsertest.KeepScreenshot(t, ctx, "workflow-page-builds")
	bs := serveBuilds(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(bs.url+"/workflows/shop")); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Minute))); err != nil {
			rows, _ := chromedp.Run(ctx, chromedp.Evaluate[string](readBuilds))
			t.Fatalf("%s: %v; the builds read:\n%s", what, err, rows)
		}
	}
	poll("the api's builds", `document.querySelector('[data-build-node="api"] [data-field="no-builds"]') !== null`)
	poll("the stream", `document.querySelector('[data-field="live"]').textContent === "live"`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	r, created, err := bs.svc.Start(t.Context(), build.Request{Workflow: "shop", Node: "api", Commit: commitA})
	if err != nil || !created {
		t.Fatalf("Start = %t, %v", created, err)
	}
	row := fmt.Sprintf(`document.querySelector('[data-build-node="api"] tr[data-build=%q]')`, r.ID)
	poll("the new build's row", row+` !== null && window.notReloaded === true`)
	// The row is kept: each step below must change this element.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.row = `+row)); err != nil {
		t.Fatal(err)
	}
	step := func(status build.Status, progress int) {
		t.Helper()
		poll(string(status), fmt.Sprintf(`window.notReloaded === true && window.row.isConnected && window.row.className === "build build-%s" &&
			window.row.querySelector('[data-field="build-step"]').textContent === %q &&
			window.row.querySelector('[data-field="build-progress"]').value === %d &&
			window.row.querySelector('[data-field="build-percent"]').textContent === "%d%%"`, status, status, progress, progress))
	}
	step(build.Pending, 0)
	bs.pod(t, r.ID, "clone", "")
	step(build.Cloning, 10)
	bs.pod(t, r.ID, "build", "", "clone", 0)
	step(build.Building, 30)
	bs.pod(t, r.ID, "push", "", "clone", 0, "build", 0)
	step(build.Pushing, 80)
	// The builder's part: the image, pushed where the Job pushes it.
	digest := registrytest.Push(t, r.Registry+"/"+r.ImageName+":"+r.ImageTag)
	bs.pod(t, r.ID, "", "", "clone", 0, "build", 0, "push", 0)
	step(build.Completed, 100)
	done, _, err := bs.svc.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(done.FinalImageRef, "@"+digest) || len(done.WriteBack) != 40 {
		t.Fatalf("build %+v, want the pushed digest %s and a write-back", done, digest)
	}
	poll("the image and write-back", fmt.Sprintf(`window.row.querySelector('[data-field="build-image"]').textContent === %q &&
		window.row.querySelector('[data-field="build-note"]').textContent === %q`, done.FinalImageRef, "written back in "+done.WriteBack[:12]))

	failed, _, err := bs.svc.Start(t.Context(), build.Request{Workflow: "shop", Node: "api", Commit: commitB})
	if err != nil {
		t.Fatal(err)
	}
	bs.pod(t, failed.ID, "", "fatal: could not read from remote repository", "clone", 128)
	bs.failJob(t, failed.ID)
	poll("the failed build", fmt.Sprintf(`(() => {
		const rows = document.querySelectorAll('[data-build-node="api"] tr[data-build]');
		return rows.length === 2 && rows[0].dataset.build === %q && rows[0].className === "build build-failed" &&
			rows[0].querySelector('[data-field="build-note"]').textContent === "step clone failed with exit code 128" &&
			rows[1] === window.row && window.notReloaded === true;
	})()`, failed.ID))

	live, err := chromedp.Run(ctx, chromedp.Evaluate[string](readBuilds))
	if err != nil {
		t.Fatal(err)
	}
	noJS, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(noJS, chromedp.Navigate(bs.url+"/workflows/shop")); err != nil {
		t.Fatal(err)
	}
	static, err := chromedp.Run(noJS, chromedp.Evaluate[string](readBuilds))
	if err != nil {
		t.Fatal(err)
	}
	if static != live {
		t.Errorf("without JavaScript:\n%s\nwith, live:\n%s", static, live)
	}

	// A pruned build leaves the open page too.
	rec, err := bs.store.Build(t.Context(), failed.ID)
	if err != nil || rec == nil {
		t.Fatalf("build %s = %+v, %v", failed.ID, rec, err)
	}
	if ok, err := bs.store.DeleteBuild(t.Context(), failed.ID, rec.Revision); !ok || err != nil {
		t.Fatalf("DeleteBuild = %t, %v", ok, err)
	}
	poll("the deleted build's row", `document.querySelectorAll('[data-build-node="api"] tr[data-build]').length === 1 &&
		document.querySelector('[data-build-node="api"] tr[data-build]') === window.row && window.notReloaded === true`)
}
