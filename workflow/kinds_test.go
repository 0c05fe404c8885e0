package workflow

import "testing"

// TestKindSpecs checks that every node kind is fully described.
func TestKindSpecs(t *testing.T) {
	t.Parallel()
	seen := map[Kind]bool{}
	for i := range kindSpecs {
		s := &kindSpecs[i]
		if s.kind == "" || seen[s.kind] {
			t.Errorf("kindSpecs[%d]: kind %q is empty or listed twice", i, s.kind)
		}
		seen[s.kind] = true
		if s.newSpec == nil || s.check == nil {
			t.Errorf("%s: newSpec and check are required", s.kind)
			continue
		}
		if _, ok := s.newSpec().(Workload); ok != s.workload {
			t.Errorf("%s: workload is %v, but its data type implementing Workload is %v", s.kind, s.workload, ok)
		}
		if (s.link == "") != (s.linkTo == nil) {
			t.Errorf("%s: link %q and linkTo go together", s.kind, s.link)
		}
		if got := NewSpec(s.kind); got == nil {
			t.Errorf("NewSpec(%s) = nil", s.kind)
		}
	}
	if NewSpec("unknown") != nil || Kind("unknown").IsWorkload() {
		t.Error("an unknown kind has a spec")
	}
}
