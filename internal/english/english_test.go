package english

import "testing"

func TestPlural(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n          int
		noun, want string
	}{
		{0, "workflow", "0 workflows"},
		{1, "workflow", "1 workflow"},
		{2, "published workflow", "2 published workflows"},
		{1, "class", "1 class"},
		{3, "class", "3 classes"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := Plural(tc.n, tc.noun); got != tc.want {
				t.Errorf("Plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
			}
		})
	}
}
