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
func open(t *testing.T, dir string) *Store {
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
	first, err := s.FirstDelivery(t.Context(), "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Hour)
	if err != nil || !first {
		t.Fatalf("first delivery: %t, %v", first, err)
	}
	again, err := s.FirstDelivery(t.Context(), "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Hour)
	if err != nil || again {
		t.Fatalf("replayed delivery counted as first: %t, %v", again, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	again, err = s.FirstDelivery(t.Context(), "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Hour)
	if err != nil || again {
		t.Fatalf("replayed delivery after a restart counted as first: %t, %v", again, err)
	}
}

func TestQueueOrderAndCompletion(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	sess, err := s.NewSession(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	for i := range 3 {
		if _, err := s.Enqueue(ctx, "deploy", fmt.Sprintf("push-%d", i), map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := s.Depth(ctx); d != 3 {
		t.Errorf("depth %d, want 3", d)
	}
	for i := range 3 {
		j, err := s.Claim(ctx, "w1", sess.Lease)
		if err != nil {
			t.Fatal(err)
		}
		if j.Key != fmt.Sprintf("push-%d", i) || j.Attempts != 1 {
			t.Errorf("claim %d got %s (attempt %d)", i, j.Key, j.Attempts)
		}
		if err := s.Complete(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, "w1", sess.Lease); !errors.Is(err, ErrEmpty) {
		t.Errorf("claim of an empty queue: %v", err)
	}
}

// TestCrashedWorkerJobRunsAgain claims a job in a session that then dies
// without completing it: another worker gets the job, on its second
// attempt, and the idempotence record keeps its effect to one.
func TestCrashedWorkerJobRunsAgain(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, "deploy", "push-abc", nil); err != nil {
		t.Fatal(err)
	}
	crashing, err := s.NewSession(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.Claim(ctx, "crashing", crashing.Lease)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkDone(ctx, j.Key, time.Hour); err != nil { // the effect happened...
		t.Fatal(err)
	}
	crashing.Close(ctx) // ...and the worker died before Complete

	other, err := s.NewSession(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	again, err := s.Claim(ctx, "other", other.Lease)
	if err != nil {
		t.Fatalf("the crashed worker's job was lost: %v", err)
	}
	if again.ID != j.ID || again.Attempts != 2 {
		t.Errorf("claimed %s attempt %d, want %s attempt 2", again.ID, again.Attempts, j.ID)
	}
	if done, err := s.Done(ctx, again.Key); err != nil || !done {
		t.Errorf("the idempotence record is lost: %t, %v", done, err)
	}
	if err := s.Complete(ctx, again); err != nil {
		t.Fatal(err)
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
			_, ok, err := s.EnqueueOnce(t.Context(), fmt.Sprintf("d-%d", i%100), time.Hour, "deploy", fmt.Sprint(i%100), nil)
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
	if d, _ := s.Depth(t.Context()); d != 100 {
		t.Errorf("depth %d, want 100", d)
	}
}

func TestCompleteBefore(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	for i := range 3 {
		s.Enqueue(ctx, "deploy", fmt.Sprint(i), nil)
	}
	s.Enqueue(ctx, "review", "r", nil)
	cut := time.Now()
	time.Sleep(time.Millisecond)
	s.Enqueue(ctx, "deploy", "later", nil)
	n, err := s.CompleteBefore(ctx, "deploy", cut)
	if err != nil || n != 3 {
		t.Fatalf("completed %d, %v; want 3", n, err)
	}
	if d, _ := s.Depth(ctx); d != 2 {
		t.Errorf("depth %d, want 2 (the review and the later deploy)", d)
	}
}

// TestLowMark checks that reads of the queue skip what CompleteBefore
// removed, and that a job from a replica whose clock is behind, with an
// id below the low mark, is queued above it rather than hidden.
func TestLowMark(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	for i := range 5 {
		s.Enqueue(ctx, "deploy", fmt.Sprint(i), nil)
	}
	if _, err := s.CompleteBefore(ctx, "deploy", time.Now()); err != nil {
		t.Fatal(err)
	}
	low, err := s.lowMark(ctx)
	if err != nil || low == "" {
		t.Fatalf("low mark %q, %v: CompleteBefore did not move it", low, err)
	}
	late := newJob("deploy", "slow-clock", nil)
	late.ID = jobID(time.Now().Add(-time.Minute).UnixNano())
	if ok, err := s.commitJob(ctx, late, "", 0); err != nil || !ok {
		t.Fatalf("commit: %v %v", ok, err)
	}
	if late.ID <= low {
		t.Fatalf("job id %s is not above the low mark %s", late.ID, low)
	}
	sess, err := s.NewSession(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	j, err := s.Claim(ctx, "w", sess.Lease)
	if err != nil || j.Key != "slow-clock" {
		t.Fatalf("claimed %+v, %v; want the slow clock's job", j, err)
	}
	if d, _ := s.Depth(ctx); d != 1 {
		t.Errorf("depth %d, want 1", d)
	}
	// Completing the oldest job moves the mark to it; completing one with
	// an older job still waiting does not.
	older, _ := s.Enqueue(ctx, "review", "older", nil)
	newer, _ := s.Enqueue(ctx, "review", "newer", nil)
	if err := s.Complete(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.lowMark(ctx); got != low {
		t.Errorf("mark moved to %s past the waiting job %s", got, older.ID)
	}
	if err := s.Complete(ctx, j); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.lowMark(ctx); got != j.ID {
		t.Errorf("mark %s after completing the oldest job, want %s", got, j.ID)
	}
	if d, _ := s.Depth(ctx); d != 1 {
		t.Errorf("depth %d, want 1 (the older review)", d)
	}
	// Without its mark (deleted by hand in a shared etcd) the queue makes
	// a new one rather than refusing every job.
	if _, err := s.client.Delete(ctx, s.lowKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, "deploy", "after-delete", nil); err != nil {
		t.Errorf("enqueue without a low mark: %v", err)
	}
}
