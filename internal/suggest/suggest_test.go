package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"environment", "image", "replicas", "targetPort"}
	for _, tc := range []struct{ in, want string }{
		{"enviroment", "environment"},
		{"Image", "image"},
		{"replcas", "replicas"},
		{"targetport", "targetPort"},
		{"volumes", ""},
		{"", ""},
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
