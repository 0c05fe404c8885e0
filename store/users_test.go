package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseCount counts the leases etcd holds.
func leaseCount(t *testing.T, s *Store) int {
	t.Helper()
	resp, err := s.client.Leases(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Leases)
}

// tokenHash is the hash of the i-th token of a test.
func tokenHash(i int) string { return fmt.Sprintf("%064d", i) }

// TestDeleteTokenRevokesLease deletes tokens and finds the leases they
// were written with gone, and the user's keys of them with the leases: a
// refresh loop must not pile up leases that live on for a token's whole
// TTL.
func TestDeleteTokenRevokesLease(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	before := leaseCount(t, s)
	for i := range 3 {
		hash := tokenHash(i)
		if err := s.PutToken(t.Context(), "ada", hash, []byte(`{}`), time.Hour, 5); err != nil {
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
	if n := leaseCount(t, s); n != before {
		t.Errorf("%d leases after deleting every token, want %d", n, before)
	}
	if got := userTokens(t, s, "ada"); len(got) != 0 {
		t.Errorf("the user's keys of deleted tokens: %v", got)
	}
}

// TestReplaceToken replaces a token's record while it is at the revision
// read, and not after: a second replacement from the same read writes
// nothing. Neither leaves a lease behind but the live record's, and the
// user's key follows the record.
func TestReplaceToken(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	old, next, other := tokenHash(1), tokenHash(2), tokenHash(3)
	before := leaseCount(t, s)
	if err := s.PutToken(ctx, "ada", old, []byte(`{"n":1}`), time.Hour, 5); err != nil {
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
		ok, err := s.ReplaceToken(ctx, "ada", old, rev, tc.hash, []byte(`{"n":2}`), time.Hour)
		if err != nil || ok != tc.want {
			t.Errorf("%s: ReplaceToken = %v, %v; want %v", tc.name, ok, err, tc.want)
		}
	}
	for hash, want := range map[string]string{old: "", next: `{"n":2}`, other: ""} {
		if v, _, err := s.Token(ctx, hash); err != nil || string(v) != want {
			t.Errorf("record %s…: %q, %v; want %q", hash[60:], v, err, want)
		}
	}
	if n := leaseCount(t, s); n != before+1 {
		t.Errorf("%d leases; want the live record's one more than %d", n, before)
	}
	if got := userTokens(t, s, "ada"); !slices.Equal(got, []string{next}) {
		t.Errorf("the user's tokens %v, want only %s", got, next)
	}
}

// TestPutTokenLimit writes five tokens past a user's limit: the oldest
// five are gone with their leases, the newest stay, and another user's
// tokens are not touched.
func TestPutTokenLimit(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	const limit = 4
	before := leaseCount(t, s)
	if err := s.PutToken(ctx, "bob", tokenHash(100), []byte(`{}`), time.Hour, limit); err != nil {
		t.Fatal(err)
	}
	for i := range limit + 5 {
		if err := s.PutToken(ctx, "ada", tokenHash(i), []byte(`{}`), time.Hour, limit); err != nil {
			t.Fatal(err)
		}
	}
	for i := range limit + 5 {
		v, _, err := s.Token(ctx, tokenHash(i))
		if err != nil {
			t.Fatal(err)
		}
		if live := i >= 5; (v != nil) != live {
			t.Errorf("token %d: record %q, want live %v", i, v, live)
		}
	}
	if v, _, err := s.Token(ctx, tokenHash(100)); err != nil || v == nil {
		t.Errorf("another user's token: %q, %v", v, err)
	}
	if got := userTokens(t, s, "ada"); len(got) != limit {
		t.Errorf("the user's tokens %v, want %d", got, limit)
	}
	if n := leaseCount(t, s); n != before+limit+1 {
		t.Errorf("%d leases, want one for each of %d live tokens more than %d", n, limit+1, before)
	}
	if err := s.PutToken(ctx, "ada", tokenHash(200), []byte(`{}`), time.Hour, 0); err == nil {
		t.Error("PutToken with a limit of 0 wrote")
	}
}

// TestPutTokenLimitRace writes many tokens of one user at once, with
// refreshes among them: the user never has more than the limit, each
// user's key has its record, and no lease is left but the live tokens'.
func TestPutTokenLimitRace(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	const limit, n = 3, 16
	before := leaseCount(t, s)
	if err := s.PutToken(ctx, "ada", tokenHash(1000), []byte(`{}`), time.Hour, limit); err != nil {
		t.Fatal(err)
	}
	// Watch every revision of the user's keys: the limit must hold at
	// each, not only at the end.
	watch := s.client.Watch(ctx, s.userTokenKey("ada", ""), clientv3.WithPrefix(), clientv3.WithRev(1))
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs <- s.PutToken(ctx, "ada", tokenHash(i), []byte(`{}`), time.Hour, limit)
		})
		wg.Go(func() {
			<-start
			_, rev, err := s.Token(ctx, tokenHash(1000))
			if err == nil && rev != 0 {
				_, err = s.ReplaceToken(ctx, "ada", tokenHash(1000), rev, tokenHash(2000+i), []byte(`{}`), time.Hour)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got := userTokens(t, s, "ada")
	if len(got) != limit {
		t.Errorf("the user's tokens %v, want %d", got, limit)
	}
	for _, hash := range got {
		if v, _, err := s.Token(ctx, hash); err != nil || v == nil {
			t.Errorf("token %s… listed without its record: %q, %v", hash[60:], v, err)
		}
	}
	if n := leaseCount(t, s); n != before+limit {
		t.Errorf("%d leases, want one for each of %d live tokens more than %d", n, limit, before)
	}
	// A key of its own under the prefix marks the end of the watch.
	end := s.userTokenKey("ada", "end")
	if _, err := s.client.Put(ctx, end, ""); err != nil {
		t.Fatal(err)
	}
	live := 0
	for wr := range watch {
		if err := wr.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range wr.Events {
			switch {
			case string(ev.Kv.Key) == end:
				return
			case ev.Type == clientv3.EventTypePut:
				live++
			default:
				live--
			}
			if live > limit {
				t.Fatalf("%d tokens of the user at revision %d, limit %d", live, ev.Kv.ModRevision, limit)
			}
		}
	}
	t.Fatal("the watch ended before its last event")
}

// userTokens lists the hashes of a user's tokens by the user's prefix.
func userTokens(t *testing.T, s *Store, user string) []string {
	t.Helper()
	prefix := s.userTokenKey(user, "")
	resp, err := s.client.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		hashes = append(hashes, string(kv.Key[len(prefix):]))
	}
	return hashes
}
