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
		if v, _, err := s.Token(t.Context(), hash); err != nil || v != nil {
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

// TestReplaceToken replaces a token's record while it is at the revision
// read, and not after: a second replacement from the same read writes
// nothing. Neither leaves a lease behind but the live record's.
func TestReplaceToken(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	old, next, other := fmt.Sprintf("%064d", 1), fmt.Sprintf("%064d", 2), fmt.Sprintf("%064d", 3)
	resp, err := s.client.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := len(resp.Leases)
	if err := s.PutToken(ctx, old, []byte(`{"n":1}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.Token(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hash string
		want bool
	}{
		{"first", next, true},
		{"again from the same read", other, false},
	} {
		ok, err := s.ReplaceToken(ctx, old, rev, tc.hash, []byte(`{"n":2}`), time.Hour)
		if err != nil || ok != tc.want {
			t.Errorf("%s: ReplaceToken = %v, %v; want %v", tc.name, ok, err, tc.want)
		}
	}
	for hash, want := range map[string]string{old: "", next: `{"n":2}`, other: ""} {
		if v, _, err := s.Token(ctx, hash); err != nil || string(v) != want {
			t.Errorf("record %s…: %q, %v; want %q", hash[60:], v, err, want)
		}
	}
	if resp, err = s.client.Leases(ctx); err != nil || len(resp.Leases) != before+1 {
		t.Errorf("leases %v, %v; want the live record's one more than %d", resp, err, before)
	}
}
