package store

import (
	"fmt"
	"testing"
	"time"
)

// TestDeleteTokenRevokesLease deletes tokens and finds the leases they
// were written with gone: a refresh loop must not pile up leases that
// live on for a token's whole TTL.
func TestDeleteTokenRevokesLease(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	leases := func() int {
		t.Helper()
		resp, err := s.client.Leases(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Leases)
	}
	before := leases()
	for i := range 3 {
		hash := fmt.Sprintf("%064d", i)
		if err := s.PutToken(t.Context(), hash, []byte(`{}`), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteToken(t.Context(), hash); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Token(t.Context(), hash); err != nil || v != nil {
			t.Fatalf("deleted token: %q, %v", v, err)
		}
	}
	if err := s.DeleteToken(t.Context(), "no such token"); err != nil {
		t.Errorf("delete of no token: %v", err)
	}
	if n := leases(); n != before {
		t.Errorf("%d leases after deleting every token, want %d", n, before)
	}
}
