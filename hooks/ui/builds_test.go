package ui

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/workflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	// apiRepo is where the fixture's api node is built from.
	apiRepo = "https://github.com/example/shop-api.git"
	commitA = "1111111111111111111111111111111111111111"
	commitB = "2222222222222222222222222222222222222222"
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
