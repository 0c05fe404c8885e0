package build

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestPruned(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	// rec is build id of node of shop, created n minutes after at.
	rec := func(id, node string, n int, s Status, job string) *Record {
		return &Record{ID: id, Workflow: "shop", Node: node, Status: s, Job: job, CreatedAt: at.Add(time.Duration(n) * time.Minute)}
	}
	tests := []struct {
		name    string
		keep    int
		all     []*Record
		jobLeft string
		want    []string
	}{
		{"within keep, nothing goes", 3, []*Record{rec("a3", "api", 3, Completed, ""), rec("a2", "api", 2, Failed, ""), rec("a1", "api", 1, Completed, "")}, "", nil},
		{"the oldest beyond keep go", 1, []*Record{rec("a3", "api", 3, Completed, ""), rec("a2", "api", 2, Failed, ""), rec("a1", "api", 1, Completed, "")}, "", []string{"a2", "a1"}},
		{"each node keeps its own", 1, []*Record{rec("w2", "web", 4, Completed, ""), rec("a2", "api", 3, Completed, ""), rec("w1", "web", 2, Completed, ""), rec("a1", "api", 1, Completed, "")}, "", []string{"w1", "a1"}},
		{"a build that runs stays", 1, []*Record{rec("a3", "api", 3, Pending, ""), rec("a2", "api", 2, Building, "j2"), rec("a1", "api", 1, Failed, "j1")}, "", []string{"a1"}},
		{"a cancelled build whose Job is left stays", 1, []*Record{rec("a3", "api", 3, Completed, ""), rec("a2", "api", 2, Cancelled, "j2"), rec("a1", "api", 1, Cancelled, "j1")}, "a2", []string{"a1"}},
		{"a cancelled build that never had a Job goes", 1, []*Record{rec("a2", "api", 2, Completed, ""), rec("a1", "api", 1, Cancelled, "")}, "a1", []string{"a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all := slices.Clone(tt.all)
			slices.SortFunc(all, newestFirst)
			var got []string
			for _, r := range pruned(all, tt.keep, func(id string) bool { return id == tt.jobLeft }) {
				got = append(got, r.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("pruned %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPruneDeletesFromTheStore: prune deletes the records beyond the
// newest Keep of a node, and keeps every record when Keep is zero.
func TestPruneDeletesFromTheStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		r := Record{ID: fmt.Sprintf("b%d", i), Workflow: "shop", Node: "api", Status: Completed, CreatedAt: at.Add(time.Duration(i) * time.Minute)}
		v, _ := json.Marshal(r)
		if _, err := f.store.CreateBuild(ctx, r.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		all, err := f.svc.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range all {
			out = append(out, r.ID)
		}
		return out
	}
	none := func(string) bool { return false }
	if err := f.svc.prune(ctx, none); err != nil || fmt.Sprint(ids()) != "[b3 b2 b1 b0]" {
		t.Fatalf("with Keep 0: %v, %v", ids(), err)
	}
	f.svc.cfg.Config.Keep = 2
	if err := f.svc.prune(ctx, none); err != nil || fmt.Sprint(ids()) != "[b3 b2]" {
		t.Fatalf("with Keep 2: %v, %v", ids(), err)
	}
}
