package users

import (
	"errors"
	"runtime"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-gitops/slipway/store"
)

// TestLoginFloodRefused fills every hashing slot and the queue behind
// them: the next login is refused with ErrBusy at once, not queued, and
// the queued ones go on once slots free.
func TestLoginFloodRefused(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(st, Options{Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	for range cap(s.hashing) {
		s.hashing <- struct{}{}
	}
	queued := make(chan error)
	for range s.maxWaiting {
		go func() {
			_, err := s.Login(t.Context(), "ada@example.com", "a wrong password")
			queued <- err
		}()
	}
	for s.waiting.Load() < s.maxWaiting {
		runtime.Gosched()
	}
	if _, err := s.Login(t.Context(), "ada@example.com", "a wrong password"); !errors.Is(err, ErrBusy) {
		t.Errorf("login past the queue: %v, want ErrBusy", err)
	}
	for range cap(s.hashing) {
		<-s.hashing
	}
	for range s.maxWaiting {
		if err := <-queued; !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("queued login: %v, want ErrInvalidCredentials", err)
		}
	}
}
