package kubeorch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/workflow"
)

const history = "testdata/history"

// importHistory imports testdata/history: a workflow whose versions
// repeat the canvas on runs, restore an old one and have three authors,
// two of whom the authors file names.
func importHistory(t *testing.T) (*Documents, *Result) {
	t.Helper()
	docs := parseFiles(t, history, "checkout-api.json", "checkout-api-versions.json")
	p := filepath.Join(history, "authors.txt")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	authors, err := ParseAuthors(p, b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(docs, Options{Authors: authors})
	if err != nil {
		t.Fatal(err)
	}
	return docs, res
}

// TestImportHistory checks that every KubeOrch version is a commit with
// KubeOrch's number, time and author, also one that repeats the canvas
// before it, that a restore names the version it restored, and that the
// workflow keeps KubeOrch's cluster.
func TestImportHistory(t *testing.T) {
	t.Parallel()
	docs, res := importHistory(t)
	if len(res.Files) != 1 {
		t.Fatalf("%d files", len(res.Files))
	}
	f := res.Files[0]
	if f.Name != "checkout-api" || f.Cluster != "prod-eu" {
		t.Errorf("workflow %s on cluster %q, want checkout-api on prod-eu", f.Name, f.Cluster)
	}
	wantCluster := []workflow.Cluster{{Name: "prod-eu", DisplayName: "Prod EU",
		Description: `KubeOrch's cluster "Prod EU", made by the import of its workflows. To take over what KubeOrch deployed there, set "adopt": "kubeorch".`}}
	if d := cmp.Diff(wantCluster, res.Clusters); d != "" {
		t.Errorf("clusters (-want +got):\n%s", d)
	}
	if len(f.Commits) != len(docs.Versions) {
		t.Fatalf("%d commits for %d versions (the saved canvas is version 6's)", len(f.Commits), len(docs.Versions))
	}
	authors := map[string]Author{
		"6760c0ffe4b0a3f1d2c3c001": {"Ada Lovelace", "ada@example.com"},
		"6760c0ffe4b0a3f1d2c3c002": {"Grace Hopper", "grace@example.com"},
		"6760c0ffe4b0a3f1d2c3c003": {"6760c0ffe4b0a3f1d2c3c003", "6760c0ffe4b0a3f1d2c3c003@kubeorch.invalid"},
	}
	byNumber := map[int]*Version{}
	for _, v := range docs.Versions {
		byNumber[v.Number] = v
	}
	for i, c := range f.Commits {
		v := byNumber[i+1]
		t.Run(fmt.Sprint("version ", i+1), func(t *testing.T) {
			t.Parallel()
			if c.Version != v.Number || !c.Time.Equal(v.CreatedAt) || c.Author != authors[v.CreatedBy] {
				t.Errorf("commit %d: version %d at %s by %s; KubeOrch: version %d at %s by %s", i+1, c.Version, c.Time, c.Author, v.Number, v.CreatedAt, authors[v.CreatedBy])
			}
			want := []string{"KubeOrch-Version: " + fmt.Sprint(v.Number), "KubeOrch-Created-By: " + v.CreatedBy, "Workflow: checkout-api"}
			if v.RestoredFrom > 0 {
				want = append(want, fmt.Sprint("KubeOrch-Restored-From: ", v.RestoredFrom))
			}
			for _, w := range want {
				if !strings.Contains(c.Message, "\n"+w+"\n") {
					t.Errorf("message lacks the trailer %q:\n%s", w, c.Message)
				}
			}
			if !strings.Contains(string(c.JSON), `"cluster_id": "prod-eu"`) {
				t.Errorf("the file does not target prod-eu:\n%s", c.JSON)
			}
		})
	}
	// Runs repeat the canvas; the restore brings version 2's back.
	for _, same := range [][2]int{{2, 3}, {2, 5}, {5, 6}} {
		if a, b := f.Commits[same[0]-1].JSON, f.Commits[same[1]-1].JSON; string(a) != string(b) {
			t.Errorf("versions %d and %d differ", same[0], same[1])
		}
	}
}

// TestImportClusterNames maps KubeOrch's cluster names to cluster files,
// and refuses two names that become one file.
func TestImportClusterNames(t *testing.T) {
	t.Parallel()
	wf := func(id, name, cluster string) string {
		return fmt.Sprintf(`{"id": %q, "name": %q, "cluster_id": %q, "nodes": []}`, id, name, cluster)
	}
	for _, tc := range []struct {
		name     string
		docs     string
		opts     Options
		want     map[string]string // workflow → cluster
		clusters []string
		err      string
	}{
		{name: "names kept", docs: `[` + wf("1", "a", "prod") + `,` + wf("2", "b", "prod") + `,` + wf("3", "c", "") + `]`,
			want: map[string]string{"a": "prod", "b": "prod", "c": ""}, clusters: []string{"prod"}},
		{name: "DNS-safe", docs: wf("1", "a", "Prod EU"), want: map[string]string{"a": "prod-eu"}, clusters: []string{"prod-eu"}},
		{name: "as given", docs: `[` + wf("1", "a", "Prod EU") + `,` + wf("2", "b", "") + `]`, opts: Options{Cluster: "staging"},
			want: map[string]string{"a": "staging", "b": "staging"}, clusters: []string{"staging"}},
		{name: "two names, one file", docs: `[` + wf("1", "a", "Prod EU") + `,` + wf("2", "b", "prod-eu") + `]`,
			err: `f.json: /1/cluster_id: KubeOrch's cluster "prod-eu" becomes the cluster file clusters/prod-eu.json, as cluster "Prod EU" (f.json#/0/cluster_id) does`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docs, err := Parse("f.json", []byte(tc.docs))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Import(docs, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, f := range res.Files {
				got[f.Name] = f.Cluster
			}
			var clusters []string
			for _, c := range res.Clusters {
				clusters = append(clusters, c.Name)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("clusters of the workflows (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.clusters, clusters); d != "" {
				t.Errorf("cluster files (-want +got):\n%s", d)
			}
		})
	}
}

// TestImportMissingVersions reports versions missing from the inputs at
// the version after them, which keeps its number.
func TestImportMissingVersions(t *testing.T) {
	t.Parallel()
	v := func(n int) string {
		return fmt.Sprintf(`{"version": %d, "nodes": [], "created_at": "2026-01-0%dT00:00:00Z"}`, n, n)
	}
	docs, err := Parse("f.json", []byte(`[{"id": "w", "name": "a", "nodes": []}, {"versions": [`+v(2)+`, `+v(3)+`, `+v(6)+`]}]`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(docs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int
	for _, c := range res.Files[0].Commits {
		numbers = append(numbers, c.Version)
	}
	if d := cmp.Diff([]int{2, 3, 6}, numbers); d != "" {
		t.Errorf("versions (-want +got):\n%s", d)
	}
	var got []string
	for _, e := range res.Report.Entries {
		if strings.Contains(e.Detail, "not among the inputs") {
			got = append(got, e.Pointer+": "+e.Detail)
		}
	}
	want := []string{
		`/1/versions/0/version: version 1 of "a" is not among the inputs (a page of GET /workflows/:id/versions left out?); ` + "`compiler versions` leaves the numbers out",
		`/1/versions/2/version: versions 4..5 of "a" are not among the inputs (a page of GET /workflows/:id/versions left out?); ` + "`compiler versions` leaves the numbers out",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
}

func TestParseAuthors(t *testing.T) {
	t.Parallel()
	a, err := ParseAuthors("authors.txt", []byte("# users\n\n u1 = Ada Lovelace <ada@example.com> \nu2=Grace <g@example.com>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Authors{"u1": {"Ada Lovelace", "ada@example.com"}, "u2": {"Grace", "g@example.com"}}, a); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"no equals", "u1 Ada <a@example.com>", "authors.txt:1: want a line such as"},
		{"no id", "= Ada <a@example.com>", "authors.txt:1: want a line such as"},
		{"no email", "\nu1 = Ada", "authors.txt:2: u1: want the author as `Name <email>`"},
		{"no name", "u1 = <a@example.com>", "authors.txt:1: u1: want the author as `Name <email>`"},
		{"unclosed", "u1 = Ada <a@example.com", "authors.txt:1: u1: want the author as `Name <email>`"},
		{"space in email", "u1 = Ada <a @example.com>", "authors.txt:1: u1: the name and the email must not hold"},
		{"twice", "u1 = A <a@example.com>\n# x\nu1 = B <b@example.com>", "authors.txt:3: u1 is given twice (also on line 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseAuthors("authors.txt", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestNoReplyAuthor names a user the authors file does not by id, at an
// address that takes no mail and that git accepts whatever the id holds.
func TestNoReplyAuthor(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]Author{
		"6760c0ffe4b0a3f1d2c3c003": {"6760c0ffe4b0a3f1d2c3c003", "6760c0ffe4b0a3f1d2c3c003@kubeorch.invalid"},
		"Ada <ada@x>":              {"Ada ada@x", "Ada--ada-x-@kubeorch.invalid"},
		"<>":                       {"--", "--@kubeorch.invalid"},
	} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			if got, named := Authors(nil).author(id); got != want || named {
				t.Errorf("author(%q) = %v, %v; want %v", id, got, named, want)
			}
		})
	}
}
