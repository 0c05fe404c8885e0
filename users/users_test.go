package users_test

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/users"
)

const password = "correct horse battery staple"

// clock is a settable time.
type clock struct{ at atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.at.Load()) }
func (c *clock) advance(d time.Duration) { c.at.Add(int64(d)) }

func newStore(t *testing.T) (*users.Store, *store.Store, *clock) {
	t.Helper()
	return newStoreWith(t, users.Options{TokenTTL: time.Hour})
}

// newStoreWith is newStore with opts, on a clock of its own.
func newStoreWith(t *testing.T, opts users.Options) (*users.Store, *store.Store, *clock) {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{}
	c.at.Store(time.Now().UnixNano())
	opts.Cost, opts.Now = bcrypt.MinCost, c.now
	u, err := users.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return u, st, c
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	u, st, clk := newStore(t)
	ctx := t.Context()
	ada, err := u.Add(ctx, "ada@example.com", "Ada", "admin", password)
	if err != nil {
		t.Fatal(err)
	}
	if ada.ID != users.IDOf("ADA@example.com ") || ada.AuthProvider != "builtin" {
		t.Errorf("user %+v: want the id of the email, whatever its case", ada)
	}

	t.Run("refused accounts", func(t *testing.T) {
		for _, tc := range []struct {
			name, email, password string
			want                  string
		}{
			{"exists", "ada@example.com", password, "user exists"},
			{"short password", "bob@example.com", "short", "shorter than 12"},
			{"long password", "bob@example.com", strings.Repeat("x", 73), "longer than 72"},
			{"not an email", "bob", password, "not an email"},
			{"display name form", "Bob <bob@example.com>", password, "not an email"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := u.Add(ctx, tc.email, "", "user", tc.password)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Add = %v, want %q", err, tc.want)
				}
			})
		}
	})

	t.Run("login", func(t *testing.T) {
		for _, tc := range []struct {
			name, email, password string
			ok                    bool
		}{
			{"right", "ada@example.com", password, true},
			{"email case", "Ada@Example.com", password, true},
			{"wrong password", "ada@example.com", password + "!", false},
			{"unknown email", "eve@example.com", password, false},
			{"empty password", "ada@example.com", "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sess, err := u.Login(ctx, tc.email, tc.password)
				if !tc.ok {
					if !errors.Is(err, users.ErrInvalidCredentials) {
						t.Errorf("Login = %v, want ErrInvalidCredentials", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := u.Authenticate(ctx, sess.Token)
				if err != nil || got.ID != ada.ID {
					t.Errorf("Authenticate = %+v, %v; want ada", got, err)
				}
			})
		}
	})

	t.Run("tokens are stored only as their hash", func(t *testing.T) {
		sess, err := u.Login(ctx, "ada@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		if v, _, err := st.Token(ctx, sess.Token); err != nil || v != nil {
			t.Errorf("a record under the token itself: %q, %v", v, err)
		}
	})

	t.Run("refresh revokes the old token", func(t *testing.T) {
		old, err := u.Login(ctx, "ada@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		next, err := u.Refresh(ctx, old.Token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Authenticate(ctx, old.Token); !errors.Is(err, users.ErrInvalidToken) {
			t.Errorf("old token after refresh: %v, want ErrInvalidToken", err)
		}
		if _, err := u.Authenticate(ctx, next.Token); err != nil {
			t.Errorf("new token: %v", err)
		}
	})

	t.Run("revoked and unknown tokens", func(t *testing.T) {
		sess, err := u.Login(ctx, "ada@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Revoke(ctx, sess.Token); err != nil {
			t.Fatal(err)
		}
		for _, token := range []string{sess.Token, "", "slw_" + strings.Repeat("A", 43), sess.Token[:len(sess.Token)-1]} {
			if _, err := u.Authenticate(ctx, token); !errors.Is(err, users.ErrInvalidToken) {
				t.Errorf("Authenticate(%q) = %v, want ErrInvalidToken", token, err)
			}
		}
	})

	// Last: it moves the clock.
	t.Run("expiry", func(t *testing.T) {
		sess, err := u.Login(ctx, "ada@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Hour)
		if _, err := u.Authenticate(ctx, sess.Token); !errors.Is(err, users.ErrInvalidToken) {
			t.Errorf("token after its TTL: %v, want ErrInvalidToken", err)
		}
		if _, err := u.Refresh(ctx, sess.Token); !errors.Is(err, users.ErrInvalidToken) {
			t.Errorf("refresh after its TTL: %v, want ErrInvalidToken", err)
		}
	})
}

// TestRefreshRace refreshes one token from many goroutines at once:
// exactly one gets a new token, the others ErrInvalidToken, and the old
// token is dead.
func TestRefreshRace(t *testing.T) {
	t.Parallel()
	u, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := u.Add(ctx, "ada@example.com", "Ada", "admin", password); err != nil {
		t.Fatal(err)
	}
	old, err := u.Login(ctx, "ada@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	type result struct {
		sess users.Session
		err  error
	}
	results := make(chan result, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			sess, err := u.Refresh(ctx, old.Token)
			results <- result{sess, err}
		}()
	}
	close(start)
	var won []users.Session
	for range n {
		r := <-results
		switch {
		case r.err == nil:
			won = append(won, r.sess)
		case !errors.Is(r.err, users.ErrInvalidToken):
			t.Errorf("a losing refresh: %v, want ErrInvalidToken", r.err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d refreshes of one token won, want 1", len(won))
	}
	if _, err := u.Authenticate(ctx, won[0].Token); err != nil {
		t.Errorf("the winner's token: %v", err)
	}
	if _, err := u.Authenticate(ctx, old.Token); !errors.Is(err, users.ErrInvalidToken) {
		t.Errorf("the refreshed token: %v, want ErrInvalidToken", err)
	}
}

// TestSessionLifetime refreshes a session's tokens until the session's
// lifetime from its login: the last token ends with the session, and
// neither it nor a refresh of it is valid after.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	u, _, clk := newStoreWith(t, users.Options{TokenTTL: time.Hour, SessionMax: 150 * time.Minute})
	ctx := t.Context()
	if _, err := u.Add(ctx, "ada@example.com", "Ada", "admin", password); err != nil {
		t.Fatal(err)
	}
	sess, err := u.Login(ctx, "ada@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	end := clk.now().Add(150 * time.Minute)
	for _, tc := range []struct {
		name    string
		after   time.Duration
		expires time.Time
	}{
		{"first refresh", 40 * time.Minute, clk.now().Add(100 * time.Minute)},
		{"second refresh", 40 * time.Minute, clk.now().Add(140 * time.Minute)},
		{"last refresh, cut at the session's end", 40 * time.Minute, end},
	} {
		clk.advance(tc.after)
		if sess, err = u.Refresh(ctx, sess.Token); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !sess.ExpiresAt.Equal(tc.expires) {
			t.Errorf("%s: expires at %s, want %s", tc.name, sess.ExpiresAt, tc.expires.UTC())
		}
	}
	clk.advance(30 * time.Minute)
	if _, err := u.Authenticate(ctx, sess.Token); !errors.Is(err, users.ErrInvalidToken) {
		t.Errorf("a token after its session's end: %v, want ErrInvalidToken", err)
	}
	if _, err := u.Refresh(ctx, sess.Token); !errors.Is(err, users.ErrInvalidToken) {
		t.Errorf("a refresh after the session's end: %v, want ErrInvalidToken", err)
	}
	if _, err := u.Login(ctx, "ada@example.com", password); err != nil {
		t.Errorf("a new login after the session's end: %v", err)
	}
}

// TestTokenCap logs one user in MaxTokens+5 times: the five oldest
// tokens are revoked, the newest MaxTokens work, and a refresh, which
// swaps one token for another, revokes none of the others.
func TestTokenCap(t *testing.T) {
	t.Parallel()
	u, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := u.Add(ctx, "ada@example.com", "Ada", "admin", password); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Add(ctx, "bob@example.com", "Bob", "user", password); err != nil {
		t.Fatal(err)
	}
	bob, err := u.Login(ctx, "bob@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range users.MaxTokens + 5 {
		sess, err := u.Login(ctx, "ada@example.com", password)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, sess.Token)
	}
	next, err := u.Refresh(ctx, tokens[5])
	if err != nil {
		t.Fatal(err)
	}
	tokens[5] = next.Token
	for i, token := range tokens {
		_, err := u.Authenticate(ctx, token)
		switch {
		case i < 5 && !errors.Is(err, users.ErrInvalidToken):
			t.Errorf("token %d of %d: %v, want ErrInvalidToken", i, len(tokens), err)
		case i >= 5 && err != nil:
			t.Errorf("token %d of %d: %v", i, len(tokens), err)
		}
	}
	if _, err := u.Authenticate(ctx, bob.Token); err != nil {
		t.Errorf("another user's token: %v", err)
	}
}

// TestLoginCapRace logs one user in from more goroutines than MaxTokens
// at once, each trying again when refused as busy, as a client does:
// every login succeeds, and exactly MaxTokens of their tokens work after.
func TestLoginCapRace(t *testing.T) {
	t.Parallel()
	u, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := u.Add(ctx, "ada@example.com", "Ada", "admin", password); err != nil {
		t.Fatal(err)
	}
	const n = users.MaxTokens + 10
	type result struct {
		token string
		err   error
	}
	results := make(chan result, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			for {
				sess, err := u.Login(ctx, "ada@example.com", password)
				if !errors.Is(err, users.ErrBusy) {
					results <- result{sess.Token, err}
					return
				}
				runtime.Gosched()
			}
		}()
	}
	close(start)
	var tokens []string
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("login: %v", r.err)
			continue
		}
		tokens = append(tokens, r.token)
	}
	live := 0
	for _, token := range tokens {
		if _, err := u.Authenticate(ctx, token); err == nil {
			live++
		}
	}
	if live != users.MaxTokens {
		t.Errorf("%d tokens of %d logins work, want %d", live, n, users.MaxTokens)
	}
}
