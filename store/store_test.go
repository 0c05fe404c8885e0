package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// open starts a store with an embedded etcd in dir.
func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeliveriesSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	first, err := s.Queue().SignalOnce(t.Context(), "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Hour, "deploy")
	if err != nil || !first {
		t.Fatalf("first delivery: %t, %v", first, err)
	}
	again, err := s.Queue().SignalOnce(t.Context(), "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Hour, "deploy")
	if err != nil || again {
		t.Fatalf("replayed delivery counted as first: %t, %v", again, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	again, err = s.Queue().SignalOnce(t.Context(), "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Hour, "deploy")
	if err != nil || again {
		t.Fatalf("replayed delivery after a restart counted as first: %t, %v", again, err)
	}
}

func TestLockExcludes(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			sess, err := s.NewSession(ctx, 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer sess.Close(context.WithoutCancel(ctx))
			for range 5 {
				unlock, err := sess.Lock(ctx, "deploy-branch")
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				unlock(ctx)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders at once", most.Load())
	}
}

// TestLeaderFailover: two replicas campaign; when the leader's session
// dies, the other leads within its lease.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	a, err := s.NewSession(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Campaign(ctx, "deployer", "replica-a"); err != nil {
		t.Fatal(err)
	}
	b, err := s.NewSession(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	elected := make(chan time.Time, 1)
	go func() {
		if _, err := b.Campaign(ctx, "deployer", "replica-b"); err == nil {
			elected <- time.Now()
		}
	}()
	if l, _ := s.Leader(ctx, "deployer"); l != "replica-a" {
		t.Fatalf("leader %q, want replica-a", l)
	}
	// replica-a dies: it stops renewing its lease.
	a.stop()
	died := time.Now()
	select {
	case at := <-elected:
		t.Logf("replica-b leads %s after replica-a stopped", at.Sub(died).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("replica-b never took over")
	}
	if l, _ := s.Leader(ctx, "deployer"); l != "replica-b" {
		t.Errorf("leader %q, want replica-b", l)
	}
}

// TestEnqueueOnceConcurrent sends 200 deliveries at once, each id twice:
// batches with a repeated id fall back to one transaction each, and every
// id is queued exactly once.
func TestEnqueueOnceConcurrent(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	var queued atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_, ok, err := s.Queue().EnqueueOnce(t.Context(), fmt.Sprintf("d-%d", i%100), time.Hour, "deploy", fmt.Sprint(i%100), nil)
			if err != nil {
				t.Error(err)
			}
			if ok {
				queued.Add(1)
			}
		})
	}
	wg.Wait()
	if queued.Load() != 100 {
		t.Errorf("%d deliveries queued, want 100", queued.Load())
	}
	if d, _ := s.Queue().Depth(t.Context()); d != 100 {
		t.Errorf("depth %d, want 100", d)
	}
}

// TestLead follows as the election's leader, returns what follow
// returns, and ends follow's context when the session ends.
func TestLead(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	errFollow := errors.New("follow failed")
	tests := []struct {
		name   string
		follow func(ctx context.Context, sess *Session) error
		want   string
	}{
		{
			name:   "follow fails",
			follow: func(context.Context, *Session) error { return errFollow },
			want:   errFollow.Error(),
		},
		{
			name: "session ends",
			follow: func(ctx context.Context, sess *Session) error {
				if err := sess.Close(ctx); err != nil {
					return err
				}
				<-ctx.Done()
				return nil
			},
			want: "the session ended",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			election := "lead-" + tt.name
			err := s.Lead(t.Context(), 2*time.Second, election, "replica-a", func(ctx context.Context, sess *Session) error {
				if l, err := s.Leader(ctx, election); err != nil || l != "replica-a" {
					t.Errorf("leader %q (%v) while following, want replica-a", l, err)
				}
				return tt.follow(ctx, sess)
			})
			if err == nil || err.Error() != tt.want {
				t.Errorf("Lead: %v, want %q", err, tt.want)
			}
		})
	}
}
