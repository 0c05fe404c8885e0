package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Job is a unit of queued work. The queue keeps these invariants, which
// its callers may rely on and its code must keep:
//
//   - A job lives under jobs/<id> from EnqueueOnce until Complete or Fail
//     removes it; ids sort by the time they were queued, so Claim offers
//     the oldest claimable job first.
//   - No job id is at or below the low mark: reads of the queue start at
//     the mark, so a job below it would be hidden for ever.
//   - A job is held by at most one claim, which lives with its worker's
//     lease: when the worker releases it or dies, the job can be claimed
//     again, so every job runs at least once.
//   - A job that waits (NotBefore in the future) or is held never keeps
//     Claim from the jobs behind it: no number or kind of failing jobs
//     stops the rest of the queue.
//   - A failed job leaves the queue for failed/<id>, with its reason, for
//     as long as the caller asks.
//
// What a job means, how often it is tried and how long it waits between
// attempts are the callers' business.
type Job struct {
	// ID orders jobs: older first.
	ID string `json:"id"`
	// Kind names the handler.
	Kind string `json:"kind"`
	// Key names the work, for logs and failure records.
	Key string `json:"key"`
	// Payload is the handler's input.
	Payload json.RawMessage `json:"payload"`
	// Attempts counts the claims, this one included.
	Attempts int `json:"attempts"`
	// Enqueued is when the job was queued.
	Enqueued time.Time `json:"enqueued"`
	// NotBefore, when set, is the earliest time the job may be claimed
	// again (a retry's backoff).
	NotBefore time.Time `json:"not_before,omitzero"`
	// LastError is why the previous attempt failed, if it did.
	LastError string `json:"last_error,omitempty"`

	// rev is the job's etcd revision when this worker claimed it: a
	// release or failure applies only to the claim it took.
	rev int64
}

// ErrEmpty means no job waits.
var ErrEmpty = errors.New("store: no job waits")

// newJob makes a job whose id sorts by time.
func newJob(kind, key string, payload json.RawMessage) *Job {
	now := time.Now().UTC()
	return &Job{ID: jobID(now.UnixNano()), Kind: kind, Key: key, Payload: payload, Enqueued: now}
}

// jobID is a job id for a time in nanoseconds: sortable, and unique by a
// random suffix.
func jobID(nanos int64) string {
	var rnd [4]byte
	rand.Read(rnd[:])
	return timeID(nanos) + "-" + hex.EncodeToString(rnd[:])
}

// timeID is the prefix of the ids of jobs queued at a time: it sorts
// before all of them.
func timeID(nanos int64) string { return fmt.Sprintf("%020d", nanos) }

func (s *Store) jobKey(id string) string      { return s.prefix + "jobs/" + id }
func (s *Store) claimKey(id string) string    { return s.prefix + "claims/" + id }
func (s *Store) failedKey(id string) string   { return s.prefix + "failed/" + id }
func (s *Store) deliveryKey(id string) string { return s.prefix + "deliveries/" + id }
func (s *Store) lowKey() string               { return s.prefix + "queue/low" }

// jobsEnd is the end of the range of job keys.
func (s *Store) jobsEnd() string { return clientv3.GetPrefixRangeEnd(s.prefix + "jobs/") }

// The queue's low mark is a job id below which no job waits. Deleted jobs
// stay in etcd's index until it compacts, and a range over them costs as
// much as one over live jobs while it blocks etcd's writes: so reads of
// the queue start at the mark, which Complete and Fail move up when they
// remove the oldest job, and a job is only ever queued above it (a
// replica with a slow clock takes an id just above the mark instead).

// initLowMark creates the low mark unless it exists.
func (s *Store) initLowMark(ctx context.Context) error {
	_, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(s.lowKey()), "=", 0)).Then(clientv3.OpPut(s.lowKey(), "")).Commit()
	if err != nil {
		return fmt.Errorf("store: queue: %w", err)
	}
	return nil
}

// lowMark reads the low mark.
func (s *Store) lowMark(ctx context.Context) (string, error) {
	resp, err := s.client.Get(ctx, s.lowKey())
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// commitMovingMark commits ops, and in the same transaction moves the low
// mark from low to to if cond holds and nobody moved the mark meanwhile.
func (s *Store) commitMovingMark(ctx context.Context, ops []clientv3.Op, low, to string, cond clientv3.Cmp) error {
	moved := append(slices.Clip(ops), clientv3.OpPut(s.lowKey(), to))
	_, err := s.client.Txn(ctx).
		If(cond, clientv3.Compare(clientv3.Value(s.lowKey()), "=", low)).
		Then(moved...).
		Else(ops...).
		Commit()
	return err
}

// aboveLow is the transaction condition that a job id is above the low
// mark.
func (s *Store) aboveLow(id string) clientv3.Cmp {
	return clientv3.Compare(clientv3.Value(s.lowKey()), "<", id)
}

// jobOps are the condition and write that queue j above the low mark.
func (s *Store) jobOps(j *Job) ([]clientv3.Cmp, []clientv3.Op) {
	b, _ := json.Marshal(j)
	return []clientv3.Cmp{s.aboveLow(j.ID)}, []clientv3.Op{clientv3.OpPut(s.jobKey(j.ID), string(b))}
}

// commitJob queues j, with the record of a delivery unless delivery is
// "", in one transaction, and reports whether it did: not when the
// delivery was seen before. An id at or below the low mark is replaced by
// one above it.
func (s *Store) commitJob(ctx context.Context, j *Job, delivery string, lease clientv3.LeaseID) (bool, error) {
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			return false, fmt.Errorf("job %s stays at or below the low mark", j.ID)
		}
		cmps, ops := s.jobOps(j)
		c, o := s.deliveryOps(delivery, lease)
		cmps, ops = append(cmps, c...), append(ops, o...)
		orElse := []clientv3.Op{clientv3.OpGet(s.lowKey())}
		if delivery != "" {
			orElse = append(orElse, clientv3.OpGet(s.deliveryKey(delivery), clientv3.WithCountOnly()))
		}
		resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
		switch {
		case err != nil:
			return false, err
		case resp.Succeeded:
			return true, nil
		case delivery != "" && resp.Responses[1].GetResponseRange().Count > 0:
			return false, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 { // the mark was deleted behind our back
			if err := s.initLowMark(ctx); err != nil {
				return false, err
			}
			continue
		}
		j.ID = idAbove(string(kvs[0].Value), j.Enqueued.UnixNano())
	}
}

// idAbove returns a job id above the low mark, for the time nanos when
// that is above it.
func idAbove(low string, nanos int64) string {
	var lowNanos int64
	fmt.Sscanf(low, "%20d", &lowNanos)
	return jobID(max(nanos, lowNanos+1))
}

// claimPage is how many jobs Claim reads at a time.
const claimPage = 64

// Claim takes the oldest job that no live worker holds and that does not
// wait for a retry. The claim lives as long as the worker's lease: a
// worker that dies lets its job be claimed again, so every job runs at
// least once. It reads past held and waiting jobs, however many, and
// returns ErrEmpty when no job can be claimed now.
func (s *Store) Claim(ctx context.Context, worker string, lease clientv3.LeaseID) (*Job, error) {
	low, err := s.lowMark(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: claim: %w", err)
	}
	end := s.jobsEnd()
	from := s.jobKey(low)
	now := time.Now()
	for {
		resp, err := s.client.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(claimPage))
		if err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		for _, kv := range resp.Kvs {
			j, err := s.tryClaim(ctx, kv, worker, lease, now)
			if err != nil || j != nil {
				return j, err
			}
		}
		if !resp.More {
			return nil, ErrEmpty
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// tryClaim claims the job kv holds unless it waits or is held; it returns
// nil when it did not claim.
func (s *Store) tryClaim(ctx context.Context, kv *mvccpb.KeyValue, worker string, lease clientv3.LeaseID, now time.Time) (*Job, error) {
	var j Job
	if err := json.Unmarshal(kv.Value, &j); err != nil {
		return nil, fmt.Errorf("store: job %s: %w", kv.Key, err)
	}
	if now.Before(j.NotBefore) {
		return nil, nil
	}
	j.Attempts++
	b, _ := json.Marshal(j)
	claim := s.claimKey(j.ID)
	txn, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(claim), "=", 0), clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
		Then(clientv3.OpPut(claim, worker, clientv3.WithLease(lease)), clientv3.OpPut(string(kv.Key), string(b))).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("store: claim %s: %w", j.ID, err)
	}
	if !txn.Succeeded {
		return nil, nil
	}
	j.rev = txn.Header.Revision
	return &j, nil
}

// ErrLostClaim means a job was claimed again after its worker's lease
// ended: the newer claim decides what becomes of it.
var ErrLostClaim = errors.New("store: the job's claim was lost")

// Release gives a claimed job back to the queue, to be claimed again from
// notBefore on, and records why the attempt failed.
func (s *Store) Release(ctx context.Context, j *Job, notBefore time.Time, reason string) error {
	next := *j
	next.NotBefore, next.LastError = notBefore.UTC(), reason
	b, _ := json.Marshal(next)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(s.jobKey(j.ID)), "=", j.rev)).
		Then(clientv3.OpPut(s.jobKey(j.ID), string(b)), clientv3.OpDelete(s.claimKey(j.ID))).
		Commit()
	if err != nil {
		return fmt.Errorf("store: release %s: %w", j.ID, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: release %s: %w", j.ID, ErrLostClaim)
	}
	return nil
}

// Complete removes a finished job and its claim. When it was the oldest
// job, the low mark moves up to it.
func (s *Store) Complete(ctx context.Context, j *Job) error {
	if err := s.remove(ctx, j, nil); err != nil {
		return fmt.Errorf("store: complete %s: %w", j.ID, err)
	}
	return nil
}

// Fail removes a job that will not be tried again and records it, with
// the reason, under failed/ for ttl.
func (s *Store) Fail(ctx context.Context, j *Job, reason string, ttl time.Duration) error {
	lease, err := s.lease(ctx, ttl)
	if err != nil {
		return fmt.Errorf("store: fail %s: %w", j.ID, err)
	}
	rec := *j
	rec.LastError = reason
	b, _ := json.Marshal(rec)
	if err := s.remove(ctx, j, []clientv3.Op{clientv3.OpPut(s.failedKey(j.ID), string(b), clientv3.WithLease(lease))}); err != nil {
		s.forgetLease(ttl, lease)
		return fmt.Errorf("store: fail %s: %w", j.ID, err)
	}
	return nil
}

// Failed returns the failed jobs still recorded, oldest first.
func (s *Store) Failed(ctx context.Context) ([]Job, error) {
	resp, err := s.client.Get(ctx, s.failedKey(""), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: failed jobs: %w", err)
	}
	jobs := make([]Job, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var j Job
		if err := json.Unmarshal(kv.Value, &j); err != nil {
			return nil, fmt.Errorf("store: failed job %s: %w", kv.Key, err)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// remove deletes a job and its claim, with ops, in one transaction that
// also moves the low mark up to the job when it was the oldest.
func (s *Store) remove(ctx context.Context, j *Job, ops []clientv3.Op) error {
	low, err := s.lowMark(ctx)
	if err != nil {
		return err
	}
	ops = append(ops, clientv3.OpDelete(s.jobKey(j.ID)), clientv3.OpDelete(s.claimKey(j.ID)))
	// No job waits between the mark and this one (an empty range compares
	// as a key never created).
	oldest := clientv3.Compare(clientv3.CreateRevision(s.jobKey(low)), "=", 0).WithRange(s.jobKey(j.ID))
	return s.commitMovingMark(ctx, ops, low, max(low, j.ID), oldest)
}

// Depth counts the jobs queued or running.
func (s *Store) Depth(ctx context.Context) (int64, error) {
	low, err := s.lowMark(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: depth: %w", err)
	}
	resp, err := s.client.Get(ctx, s.jobKey(low), clientv3.WithRange(s.jobsEnd()), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("store: depth: %w", err)
	}
	return resp.Count, nil
}

// Session is a worker's lease: its claims, locks and leadership end when
// it ends, or when the worker stops renewing it (a crash).
type Session struct {
	store *Store
	cs    *concurrency.Session
	// Lease is the session's etcd lease.
	Lease clientv3.LeaseID
}

// NewSession grants a lease of ttl and keeps it alive until Close.
func (s *Store) NewSession(ctx context.Context, ttl time.Duration) (*Session, error) {
	cs, err := concurrency.NewSession(s.client, concurrency.WithTTL(int(ttl/time.Second)), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	return &Session{store: s, cs: cs, Lease: cs.Lease()}, nil
}

// Done is closed when the session ends: closed, or its lease lost.
func (ss *Session) Done() <-chan struct{} { return ss.cs.Done() }

// stop stops renewing the lease without revoking it, as a crash would.
func (ss *Session) stop() { ss.cs.Orphan() }

// Close ends the session and releases what it held.
func (ss *Session) Close(context.Context) error {
	return ss.cs.Close()
}

// EnqueueOnce queues a job for a webhook delivery unless the delivery id
// was seen within ttl, in one transaction: a delivery is never recorded
// without its job, nor queued twice. It reports whether it queued.
// Deliveries that arrive together share a transaction.
func (s *Store) EnqueueOnce(ctx context.Context, delivery string, ttl time.Duration, kind, key string, payload any) (*Job, bool, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("store: enqueue %s: %w", kind, err)
	}
	r := &enqueueRequest{ctx: ctx, delivery: delivery, ttl: ttl, job: newJob(kind, key, raw)}
	queued, err := s.submit(r)
	if err != nil || !queued {
		return nil, false, err
	}
	return r.job, true, nil
}
