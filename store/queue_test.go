package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

// enqueue queues a job as a delivery of its own would.
func enqueue(t *testing.T, s *Store, kind JobKind, key string) *Job {
	t.Helper()
	j, ok, err := s.Queue().EnqueueOnce(t.Context(), rand.Text(), time.Hour, kind, key, nil)
	if err != nil || !ok {
		t.Fatalf("enqueue %s: %t, %v", key, ok, err)
	}
	return j
}

// session starts a session that ends with the test.
func session(t *testing.T, s *Store, ttl time.Duration) *Session {
	t.Helper()
	sess, err := s.NewSession(t.Context(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close(t.Context()) })
	return sess
}

// queue starts a store with a worker's session; both end with the test.
func queue(t *testing.T) (*Store, *Session) {
	t.Helper()
	s := open(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	return s, session(t, s, 10*time.Second)
}

// claimed queues a job and claims it.
func claimed(t *testing.T, s *Store, sess *Session, key string) *Job {
	t.Helper()
	enqueue(t, s, "review", key)
	j, err := s.Queue().Claim(t.Context(), sess, "w")
	if err != nil || j.Key != key {
		t.Fatalf("claimed %+v, %v; want %s", j, err, key)
	}
	return j
}

func TestQueueOrderAndCompletion(t *testing.T) {
	t.Parallel()
	s, sess := queue(t)
	ctx := t.Context()
	for i := range 3 {
		enqueue(t, s, "review", fmt.Sprintf("pr-%d", i))
	}
	if d, _ := s.Queue().Depth(ctx); d != 3 {
		t.Errorf("depth %d, want 3", d)
	}
	for i := range 3 {
		j, err := s.Queue().Claim(ctx, sess, "w1")
		if err != nil {
			t.Fatal(err)
		}
		if j.Key != fmt.Sprintf("pr-%d", i) || j.Attempts != 1 {
			t.Errorf("claim %d got %s (attempt %d)", i, j.Key, j.Attempts)
		}
		if err := s.Queue().Complete(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Queue().Claim(ctx, sess, "w1"); !errors.Is(err, ErrEmpty) {
		t.Errorf("claim of an empty queue: %v", err)
	}
}

// TestCrashedWorkerJobRunsAgain claims a job in a session that then dies
// without completing it: another worker gets the job, on its second
// attempt.
func TestCrashedWorkerJobRunsAgain(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	enqueue(t, s, "review", "pr-abc")
	crashing := session(t, s, 2*time.Second)
	j, err := s.Queue().Claim(ctx, crashing, "crashing")
	if err != nil {
		t.Fatal(err)
	}
	crashing.Close(ctx) // the worker died before Complete

	other := session(t, s, 10*time.Second)
	again, err := s.Queue().Claim(ctx, other, "other")
	if err != nil {
		t.Fatalf("the crashed worker's job was lost: %v", err)
	}
	if again.ID != j.ID || again.Attempts != 2 {
		t.Errorf("claimed %s attempt %d, want %s attempt 2", again.ID, again.Attempts, j.ID)
	}
	// The crashed worker's view of the job is stale: its release must not
	// undo the newer claim.
	if err := s.Queue().Release(ctx, j, time.Now(), "late"); !errors.Is(err, ErrLostClaim) {
		t.Errorf("release with a lost claim: %v, want ErrLostClaim", err)
	}
	if err := s.Queue().Complete(ctx, again); err != nil {
		t.Fatal(err)
	}
}

// TestClaimPastHeldAndWaitingJobs fills more than a page of the queue
// with jobs that are held or wait for a retry: the job behind them is
// still claimed (a queue that read only its first page stopped for good
// once 64 jobs failed).
func TestClaimPastHeldAndWaitingJobs(t *testing.T) {
	t.Parallel()
	s, sess := queue(t)
	ctx := t.Context()
	for i := range claimPage + 6 {
		enqueue(t, s, "review", fmt.Sprintf("failing-%d", i))
	}
	enqueue(t, s, "other", "behind")
	for i := range claimPage + 6 {
		j, err := s.Queue().Claim(ctx, sess, "w")
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if i%2 == 0 { // held by this worker, still running
			continue
		}
		if err := s.Queue().Release(ctx, j, time.Now().Add(time.Hour), "failed"); err != nil {
			t.Fatal(err)
		}
	}
	j, err := s.Queue().Claim(ctx, sess, "w")
	if err != nil || j.Key != "behind" {
		t.Fatalf("claimed %+v, %v; want the job behind the failing ones", j, err)
	}
	if _, err := s.Queue().Claim(ctx, sess, "w"); !errors.Is(err, ErrEmpty) {
		t.Errorf("claim with every job held or waiting: %v, want ErrEmpty", err)
	}
}

// TestReleaseRetriesLater releases a failed attempt with a backoff: the
// job is claimed again only after it, with its attempt counted and the
// reason kept.
func TestReleaseRetriesLater(t *testing.T) {
	t.Parallel()
	s, sess := queue(t)
	ctx := t.Context()
	j := claimed(t, s, sess, "pr-1")
	retry := time.Now().Add(300 * time.Millisecond)
	if err := s.Queue().Release(ctx, j, retry, "GitHub answered 502"); err != nil {
		t.Fatal(err)
	}
	for {
		again, err := s.Queue().Claim(ctx, sess, "w")
		if errors.Is(err, ErrEmpty) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().Before(retry) {
			t.Errorf("claimed again before its retry time")
		}
		if again.Attempts != 2 || again.LastError != "GitHub answered 502" {
			t.Errorf("attempt %d, last error %q", again.Attempts, again.LastError)
		}
		break
	}
}

// TestFail records a job that will not be tried again, with its reason,
// and takes it out of the queue.
func TestFail(t *testing.T) {
	t.Parallel()
	s, sess := queue(t)
	ctx := t.Context()
	j := claimed(t, s, sess, "pr-1")
	if err := s.Queue().Fail(ctx, j, "no reviewer", time.Hour); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Queue().Depth(ctx); d != 0 {
		t.Errorf("depth %d after a failure, want 0", d)
	}
	failed, err := s.Queue().Failed(ctx)
	if err != nil || len(failed) != 1 || failed[0].Key != "pr-1" || failed[0].LastError != "no reviewer" {
		t.Errorf("failed jobs %+v, %v", failed, err)
	}
	if low, _ := s.Queue().lowMark(ctx); low != j.ID {
		t.Errorf("low mark %s after the oldest job failed, want %s", low, j.ID)
	}
}

// TestLowMark checks that reads of the queue skip removed jobs, and that
// a job from a replica whose clock is behind, with an id below the low
// mark, is queued above it rather than hidden.
func TestLowMark(t *testing.T) {
	t.Parallel()
	s, sess := queue(t)
	ctx := t.Context()
	for i := range 5 {
		enqueue(t, s, "review", fmt.Sprint(i))
	}
	var last *Job
	for range 5 {
		j, err := s.Queue().Claim(ctx, sess, "w")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Queue().Complete(ctx, j); err != nil {
			t.Fatal(err)
		}
		last = j
	}
	low, err := s.Queue().lowMark(ctx)
	if err != nil || low != last.ID {
		t.Fatalf("low mark %q, %v: want the last completed job %s", low, err, last.ID)
	}
	late := newJob("review", "slow-clock", nil)
	late.ID = jobID(time.Now().Add(-time.Minute).UnixNano())
	if ok, err := s.Queue().commitJob(ctx, late, "", 0); err != nil || !ok {
		t.Fatalf("commit: %v %v", ok, err)
	}
	if late.ID <= low {
		t.Fatalf("job id %s is not above the low mark %s", late.ID, low)
	}
	j, err := s.Queue().Claim(ctx, sess, "w")
	if err != nil || j.Key != "slow-clock" {
		t.Fatalf("claimed %+v, %v; want the slow clock's job", j, err)
	}
	// Completing the oldest job moves the mark to it; completing one with
	// an older job still waiting does not.
	older := enqueue(t, s, "review", "older")
	newer := enqueue(t, s, "review", "newer")
	if err := s.Queue().Complete(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Queue().lowMark(ctx); got != low {
		t.Errorf("mark moved to %s past the waiting job %s", got, older.ID)
	}
	if err := s.Queue().Complete(ctx, j); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Queue().lowMark(ctx); got != j.ID {
		t.Errorf("mark %s after completing the oldest job, want %s", got, j.ID)
	}
	if d, _ := s.Queue().Depth(ctx); d != 1 {
		t.Errorf("depth %d, want 1 (the older review)", d)
	}
	// Without its mark (deleted by hand in a shared etcd) the queue makes
	// a new one rather than refusing every job.
	if _, err := s.client.Delete(ctx, s.Queue().lowKey()); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "review", "after-delete")
}

// TestSignals raises a signal from deliveries, some arriving together and
// one replayed: the revision moves once per new delivery batch, never for
// a replay, and a delivery id cannot name any other record.
func TestSignals(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	if rev, _, err := s.Queue().Signalled(ctx, "deploy"); err != nil || rev != 0 {
		t.Fatalf("signal never raised: revision %d, %v", rev, err)
	}
	done := make(chan error, 20)
	for i := range 20 {
		go func() {
			_, err := s.Queue().SignalOnce(ctx, fmt.Sprintf("d-%d", i), time.Hour, "deploy")
			done <- err
		}()
	}
	for range 20 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	rev, at, err := s.Queue().Signalled(ctx, "deploy")
	if err != nil || rev == 0 || time.Since(at) > time.Minute {
		t.Fatalf("signal: revision %d at %s, %v", rev, at, err)
	}
	if ok, err := s.Queue().SignalOnce(ctx, "d-3", time.Hour, "deploy"); err != nil || ok {
		t.Errorf("replayed delivery raised the signal: %t, %v", ok, err)
	}
	if again, _, _ := s.Queue().Signalled(ctx, "deploy"); again != rev {
		t.Errorf("replay moved the signal from revision %d to %d", rev, again)
	}
	// Ids shaped like other records' keys are only delivery ids.
	for _, id := range []string{"../signals/deploy", "done/push:0123", "../jobs/x"} {
		if ok, err := s.Queue().SignalOnce(ctx, id, time.Hour, "other"); err != nil || !ok {
			t.Errorf("delivery %q: %t, %v", id, ok, err)
		}
	}
	if again, _, _ := s.Queue().Signalled(ctx, "deploy"); again != rev {
		t.Errorf("a delivery id moved the deploy signal")
	}
	if d, _ := s.Queue().Depth(ctx); d != 0 {
		t.Errorf("signals queued %d jobs", d)
	}
}
