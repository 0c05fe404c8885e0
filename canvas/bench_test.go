package canvas_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/sample"
)

// BenchmarkWorkflowList reads the editor's workflow list of the fixture
// repository (five workflows, each with its history) over loopback HTTP.
func BenchmarkWorkflowList(b *testing.B) {
	f := newFixture(b)
	for b.Loop() {
		if a := f.do("GET", "/workflows", f.token, ""); a.status != http.StatusOK {
			b.Fatalf("status %d: %s", a.status, a.body)
		}
	}
}

// BenchmarkWorkflowListHistory reads the workflow list of a repository
// of 200 workflows and 1,000 commits, each changing one of them: the
// work of a list grows with the history, not only with the workflows.
func BenchmarkWorkflowListHistory(b *testing.B) {
	commits := []map[string][]byte{sample.Repo(200)}
	for i := range 999 {
		w := i % 200
		commits = append(commits, map[string][]byte{fmt.Sprintf("workflows/w%03d.json", w): sample.Workflow(w, i+2)})
	}
	f := newFixtureOn(b, gittest.FastImport(b, commits), nil)
	for b.Loop() {
		if a := f.do("GET", "/workflows", f.token, ""); a.status != http.StatusOK {
			b.Fatalf("status %d: %s", a.status, a.body)
		}
	}
}

// BenchmarkSave saves a workflow's canvas, alternating two canvases so
// that each save is a commit.
func BenchmarkSave(b *testing.B) { benchSaves(b, newFixture(b)) }

// BenchmarkSavePullRequest saves a workflow's canvas in pull-request
// mode, alternating two canvases so that each save is a commit pushed to
// the workflow's branch on a remote over smart HTTP; the first opens the
// pull request, the others find it open on the GitHub stand-in.
func BenchmarkSavePullRequest(b *testing.B) {
	f := newPRFixture(b)
	benchSaves(b, f.fixture)
	if n := len(f.github.PullRequests()); n != 1 {
		b.Errorf("%d pull requests, want 1", n)
	}
}

// benchSaves saves a workflow's canvas through f, alternating two
// canvases so that each save is a commit.
func benchSaves(b *testing.B, f *fixture) {
	bodies := [2]string{
		`{"nodes":[{"id":"n","type":"configmap","position":{"x":0,"y":0},"data":{"name":"c","data":{"k":"a"}}}],"edges":[]}`,
		`{"nodes":[{"id":"n","type":"configmap","position":{"x":0,"y":0},"data":{"name":"c","data":{"k":"b"}}}],"edges":[]}`,
	}
	i := 0
	for b.Loop() {
		if a := f.do("POST", "/workflows/sketch/save", f.token, bodies[i%2]); a.status != http.StatusOK {
			b.Fatalf("status %d: %s", a.status, a.body)
		}
		i++
	}
}
