// Package users keeps the accounts that may sign in to the canvas API:
// users with a slow password hash, and the opaque bearer tokens a login
// gives them, stored only as their SHA-256, with an expiry. A token is
// refreshed into a new one, but no further than the session's absolute
// lifetime from its login. A user has at most MaxTokens live tokens.
package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Errors of the store.
var (
	// ErrInvalidCredentials means an unknown email or a wrong password;
	// which one is not told.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrInvalidToken means a token that is unknown, expired or revoked.
	ErrInvalidToken = errors.New("invalid or expired token")
	// ErrExists means a user with the email exists already.
	ErrExists = errors.New("user exists")
	// ErrBusy means too many password checks wait already: the login is
	// refused rather than queued.
	ErrBusy = errors.New("too many logins at once; try again")
)

// Limits of what a user gives.
const (
	// MinPassword is the shortest password accepted.
	MinPassword = 12
	// MaxPassword is the longest: bcrypt reads 72 bytes.
	MaxPassword = 72
	// DefaultTokenTTL is how long a token is valid unless Options say.
	DefaultTokenTTL = 24 * time.Hour
	// DefaultSessionMax is how long after its login a session ends, however
	// often its token is refreshed, unless Options say.
	DefaultSessionMax = 7 * 24 * time.Hour
	// MaxTokens is how many live tokens a user has at most: a login past
	// it revokes the user's oldest token. Each browser signed in holds
	// one (its tabs share it), so twenty leave room for several browsers
	// and devices, while a loop of logins, or a stolen password, cannot
	// grow the store without end. Amazon Cognito keeps 20 sessions a
	// user by default, GitLab 100, each dropping the oldest.
	MaxTokens = 20
)

// User is an account, in the shape KubeOrch's editor keeps of its user.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	// AuthProvider is "builtin", or "proxy" for a user an authenticating
	// proxy named.
	AuthProvider string `json:"authProvider"`
}

// Session is what a login gives: a bearer token and its user.
type Session struct {
	Token     string
	User      User
	ExpiresAt time.Time
}

// Records keeps the user and token records (*store.Store).
type Records interface {
	CreateUser(ctx context.Context, id string, value []byte) (bool, error)
	User(ctx context.Context, id string) ([]byte, error)
	// PutToken writes a token's record for user, revoking the user's
	// oldest tokens beyond limit.
	PutToken(ctx context.Context, user, hash string, value []byte, ttl time.Duration, limit int) error
	// Token returns a token's record and its revision; nil when there
	// is none.
	Token(ctx context.Context, hash string) ([]byte, int64, error)
	// ReplaceToken replaces the record of user's token oldHash, while it
	// is at revision, with one of newHash, and reports whether it did.
	ReplaceToken(ctx context.Context, user, oldHash string, revision int64, newHash string, value []byte, ttl time.Duration) (bool, error)
	DeleteToken(ctx context.Context, hash string) error
}

// Options configure a Store.
type Options struct {
	// TokenTTL is how long a token is valid (DefaultTokenTTL when zero).
	TokenTTL time.Duration
	// SessionMax is how long after its login a session ends, however
	// often its token is refreshed (DefaultSessionMax when zero): a stolen
	// token cannot be kept alive by refreshing it.
	SessionMax time.Duration
	// Cost is bcrypt's cost (bcrypt.DefaultCost when zero).
	Cost int
	// Now tells the time (time.Now when nil).
	Now func() time.Time
}

// Store signs users in and checks their tokens.
type Store struct {
	records Records
	ttl     time.Duration
	max     time.Duration
	cost    int
	now     func() time.Time
	// hashing bounds the password hashes computed at once, so that a
	// flood of logins queues instead of taking every core.
	hashing chan struct{}
	// waiting counts the hashes waiting for a slot; beyond maxWaiting
	// they are refused with ErrBusy. A login's wait is not cut when its
	// client goes away: an unbounded queue would keep the cores busy
	// long after a flood of logins ended.
	waiting    atomic.Int64
	maxWaiting int64
	// decoy is compared against for an unknown email, so that a login
	// takes as long whether or not the email has an account.
	decoy []byte
}

// New returns a Store on records.
func New(records Records, opts Options) (*Store, error) {
	if records == nil {
		return nil, errors.New("users: records are required")
	}
	if opts.TokenTTL < 0 {
		return nil, fmt.Errorf("users: token TTL %s is negative", opts.TokenTTL)
	}
	if opts.SessionMax < 0 {
		return nil, fmt.Errorf("users: session lifetime %s is negative", opts.SessionMax)
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.SessionMax == 0 {
		opts.SessionMax = DefaultSessionMax
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Cost == 0 {
		opts.Cost = bcrypt.DefaultCost
	}
	decoy, err := bcrypt.GenerateFromPassword([]byte("decoy password of no account"), opts.Cost)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	slots := runtime.GOMAXPROCS(0)
	return &Store{records: records, ttl: opts.TokenTTL, max: opts.SessionMax, cost: opts.Cost, now: opts.Now,
		hashing: make(chan struct{}, slots), maxWaiting: int64(waitingPerSlot * slots), decoy: decoy}, nil
}

// waitingPerSlot is how many hashes may wait for each slot: a few
// hundred milliseconds of work at bcrypt's default cost.
const waitingPerSlot = 4

// record is a stored user.
type record struct {
	User
	// Hash is the bcrypt hash of the password.
	Hash []byte `json:"hash"`
}

// tokenRecord is a stored token, under the SHA-256 of the token.
type tokenRecord struct {
	UserID    string    `json:"user"`
	ExpiresAt time.Time `json:"expiresAt"`
	// LoginAt is when the session's password was checked; refreshes
	// carry it over. A record without one (written before sessions had
	// an end) has ended.
	LoginAt time.Time `json:"loginAt"`
}

// IDOf returns the id of the user with email.
func IDOf(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:12])
}

// CheckPassword reports why password is not accepted, or nil.
func CheckPassword(password string) error {
	switch {
	case len(password) < MinPassword:
		return fmt.Errorf("the password is shorter than %d characters", MinPassword)
	case len(password) > MaxPassword:
		return fmt.Errorf("the password is longer than %d bytes", MaxPassword)
	}
	return nil
}

// Add creates a user with a role; ErrExists when the email has an account.
func (s *Store) Add(ctx context.Context, email, name, role, password string) (User, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != strings.TrimSpace(email) {
		return User{}, fmt.Errorf("users: %q is not an email address", email)
	}
	if err := CheckPassword(password); err != nil {
		return User{}, fmt.Errorf("users: %w", err)
	}
	if name == "" {
		name, _, _ = strings.Cut(addr.Address, "@")
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: IDOf(addr.Address), Email: addr.Address, Name: name, Role: role, CreatedAt: s.now().UTC().Truncate(time.Second), AuthProvider: "builtin"}
	value, err := json.Marshal(record{User: u, Hash: hash})
	if err != nil {
		return User{}, fmt.Errorf("users: %w", err)
	}
	ok, err := s.records.CreateUser(ctx, u.ID, value)
	if err != nil {
		return User{}, fmt.Errorf("users: add %s: %w", addr.Address, err)
	}
	if !ok {
		return User{}, fmt.Errorf("users: add %s: %w", addr.Address, ErrExists)
	}
	return u, nil
}

// Login checks a password and gives a new token; ErrInvalidCredentials
// when the email has no account or the password is wrong, after the same
// work either way. A user with MaxTokens tokens already loses the oldest.
func (s *Store) Login(ctx context.Context, email, password string) (Session, error) {
	rec, err := s.user(ctx, IDOf(email))
	if err != nil {
		return Session{}, err
	}
	hash := s.decoy
	if rec != nil {
		hash = rec.Hash
	}
	if err := s.compare(ctx, hash, password); err != nil {
		return Session{}, err
	}
	if rec == nil {
		return Session{}, ErrInvalidCredentials
	}
	sess, value, ttl, err := s.mint(rec.User, s.now())
	if err != nil {
		return Session{}, err
	}
	if err := s.records.PutToken(ctx, rec.ID, tokenHash(sess.Token), value, ttl, MaxTokens); err != nil {
		return Session{}, fmt.Errorf("users: %w", err)
	}
	return sess, nil
}

// Refresh gives a new token for the user of a valid one, in the same
// session, and revokes the old one. The swap is one transaction on the
// old token's record: of refreshes of one token at once, one wins and the
// others get ErrInvalidToken, as for a token already refreshed. A session
// past its lifetime is not refreshed: its user signs in again.
func (s *Store) Refresh(ctx context.Context, token string) (Session, error) {
	t, rev, u, err := s.lookup(ctx, token)
	if err != nil {
		return Session{}, err
	}
	next, value, ttl, err := s.mint(u, t.LoginAt)
	if err != nil {
		return Session{}, err
	}
	ok, err := s.records.ReplaceToken(ctx, u.ID, tokenHash(token), rev, tokenHash(next.Token), value, ttl)
	if err != nil {
		return Session{}, fmt.Errorf("users: %w", err)
	}
	if !ok {
		return Session{}, ErrInvalidToken
	}
	return next, nil
}

// Authenticate returns the user of a token; ErrInvalidToken when it is
// unknown, expired or revoked, its session is past its lifetime, or its
// user is gone. Tokens are looked up by their SHA-256, so that no
// comparison depends on the token's bytes.
func (s *Store) Authenticate(ctx context.Context, token string) (User, error) {
	_, _, u, err := s.lookup(ctx, token)
	return u, err
}

// lookup returns a valid token's record, its revision and its user, or
// ErrInvalidToken.
func (s *Store) lookup(ctx context.Context, token string) (tokenRecord, int64, User, error) {
	if token == "" {
		return tokenRecord{}, 0, User{}, ErrInvalidToken
	}
	value, rev, err := s.records.Token(ctx, tokenHash(token))
	if err != nil {
		return tokenRecord{}, 0, User{}, fmt.Errorf("users: %w", err)
	}
	if value == nil {
		return tokenRecord{}, 0, User{}, ErrInvalidToken
	}
	var t tokenRecord
	if err := json.Unmarshal(value, &t); err != nil {
		return tokenRecord{}, 0, User{}, fmt.Errorf("users: token record: %w", err)
	}
	if now := s.now(); !now.Before(t.ExpiresAt) || !now.Before(t.LoginAt.Add(s.max)) {
		return tokenRecord{}, 0, User{}, ErrInvalidToken
	}
	rec, err := s.user(ctx, t.UserID)
	if err != nil {
		return tokenRecord{}, 0, User{}, err
	}
	if rec == nil {
		return tokenRecord{}, 0, User{}, ErrInvalidToken
	}
	return t, rev, rec.User, nil
}

// Revoke makes a token invalid.
func (s *Store) Revoke(ctx context.Context, token string) error {
	if err := s.records.DeleteToken(ctx, tokenHash(token)); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// mint makes a new random token for u in the session that logged in at
// loginAt: its session, its record and how long the record lives, the
// token's TTL or what is left of the session if that is less.
func (s *Store) mint(u User, loginAt time.Time) (Session, []byte, time.Duration, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, nil, 0, fmt.Errorf("users: token: %w", err)
	}
	token := "slw_" + base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	ttl := min(s.ttl, loginAt.Add(s.max).Sub(now))
	expires := now.Add(ttl).UTC()
	value, err := json.Marshal(tokenRecord{UserID: u.ID, ExpiresAt: expires, LoginAt: loginAt.UTC()})
	if err != nil {
		return Session{}, nil, 0, fmt.Errorf("users: %w", err)
	}
	return Session{Token: token, User: u, ExpiresAt: expires}, value, ttl, nil
}

// user reads a user record; nil when there is none.
func (s *Store) user(ctx context.Context, id string) (*record, error) {
	value, err := s.records.User(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if value == nil {
		return nil, nil
	}
	var rec record
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, fmt.Errorf("users: user record %s: %w", id, err)
	}
	return &rec, nil
}

// hash computes a password's hash, waiting for a free slot.
func (s *Store) hash(ctx context.Context, password string) ([]byte, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-s.hashing }()
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return h, nil
}

// compare checks a password against a hash, waiting for a free slot.
func (s *Store) compare(ctx context.Context, hash []byte, password string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-s.hashing }()
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return ErrInvalidCredentials
	}
	return nil
}

// acquire takes a hashing slot, waiting for one unless too many wait
// already (ErrBusy).
func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	default:
	}
	if s.waiting.Add(1) > s.maxWaiting {
		s.waiting.Add(-1)
		return ErrBusy
	}
	defer s.waiting.Add(-1)
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("users: %w", ctx.Err())
	}
}

// tokenHash returns the hex SHA-256 of a token, the key of its record.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
