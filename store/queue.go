package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Job is a unit of queued work.
type Job struct {
	// ID orders jobs: older first.
	ID string `json:"id"`
	// Kind names the handler.
	Kind string `json:"kind"`
	// Key identifies the work for idempotence: a handler that sees a key
	// it completed before does nothing.
	Key string `json:"key"`
	// Payload is the handler's input.
	Payload json.RawMessage `json:"payload"`
	// Attempts counts the claims, this one included.
	Attempts int `json:"attempts"`
	// Enqueued is when the job was queued.
	Enqueued time.Time `json:"enqueued"`
}

// ErrEmpty means no job waits.
var ErrEmpty = errors.New("store: no job waits")

// Enqueue queues a job and returns it.
func (s *Store) Enqueue(ctx context.Context, kind, key string, payload any) (*Job, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("store: enqueue %s: %w", kind, err)
	}
	j := newJob(kind, key, raw)
	if _, err := s.commitJob(ctx, j, "", 0); err != nil {
		return nil, fmt.Errorf("store: enqueue %s: %w", kind, err)
	}
	return j, nil
}

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
func (s *Store) deliveryKey(id string) string { return s.prefix + "deliveries/" + id }
func (s *Store) lowKey() string               { return s.prefix + "queue/low" }

// The queue's low mark is a job id below which no job waits. Deleted jobs
// stay in etcd's index until it compacts, and a range over them costs as
// much as one over live jobs while it blocks etcd's writes: so reads of
// the queue start at the mark, which CompleteBefore and Complete move up,
// and a job is only ever queued above it (a replica with a slow clock takes an id
// just above the mark instead).

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

// readQueue reads the jobs from the low mark on (to the end, unless opts
// give a range of their own) and returns the mark it read from.
func (s *Store) readQueue(ctx context.Context, opts ...clientv3.OpOption) (low string, resp *clientv3.GetResponse, err error) {
	if low, err = s.lowMark(ctx); err != nil {
		return "", nil, err
	}
	opts = append([]clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(s.prefix + "jobs/"))}, opts...)
	resp, err = s.client.Get(ctx, s.jobKey(low), opts...)
	return low, resp, err
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

// enqueueOps are the conditions and writes that queue j above the low
// mark and, unless delivery is "", record the delivery for the first time.
func (s *Store) enqueueOps(j *Job, delivery string, lease clientv3.LeaseID) ([]clientv3.Cmp, []clientv3.Op) {
	b, _ := json.Marshal(j)
	cmps := []clientv3.Cmp{s.aboveLow(j.ID)}
	ops := []clientv3.Op{clientv3.OpPut(s.jobKey(j.ID), string(b))}
	if delivery != "" {
		dkey := s.deliveryKey(delivery)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(dkey), "=", 0))
		ops = append(ops, clientv3.OpPut(dkey, j.Enqueued.Format(time.RFC3339), clientv3.WithLease(lease)))
	}
	return cmps, ops
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
		cmps, ops := s.enqueueOps(j, delivery, lease)
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

// Claim takes the oldest job no live worker holds. The claim lives as
// long as the worker's lease: a worker that dies lets its job be claimed
// again, so every job runs at least once. It returns ErrEmpty when no job
// waits.
func (s *Store) Claim(ctx context.Context, worker string, lease clientv3.LeaseID) (*Job, error) {
	_, resp, err := s.readQueue(ctx, clientv3.WithLimit(64))
	if err != nil {
		return nil, fmt.Errorf("store: claim: %w", err)
	}
	for _, kv := range resp.Kvs {
		var j Job
		if err := json.Unmarshal(kv.Value, &j); err != nil {
			return nil, fmt.Errorf("store: job %s: %w", kv.Key, err)
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
		if txn.Succeeded {
			return &j, nil
		}
	}
	return nil, ErrEmpty
}

// Complete removes a finished job and its claim. When it was the oldest
// job, the low mark moves up to it.
func (s *Store) Complete(ctx context.Context, j *Job) error {
	low, err := s.lowMark(ctx)
	if err != nil {
		return fmt.Errorf("store: complete %s: %w", j.ID, err)
	}
	del := []clientv3.Op{clientv3.OpDelete(s.jobKey(j.ID)), clientv3.OpDelete(s.claimKey(j.ID))}
	// No job waits between the mark and this one (an empty range compares
	// as a key never created).
	oldest := clientv3.Compare(clientv3.CreateRevision(s.jobKey(low)), "=", 0).WithRange(s.jobKey(j.ID))
	if err := s.commitMovingMark(ctx, del, low, max(low, j.ID), oldest); err != nil {
		return fmt.Errorf("store: complete %s: %w", j.ID, err)
	}
	return nil
}

// Depth counts the jobs queued or running.
func (s *Store) Depth(ctx context.Context) (int64, error) {
	_, resp, err := s.readQueue(ctx, clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("store: depth: %w", err)
	}
	return resp.Count, nil
}

// MarkDone records that the work with an idempotence key has had its
// effect, and reports whether it had been recorded before.
func (s *Store) MarkDone(ctx context.Context, key string, ttl time.Duration) (already bool, err error) {
	first, err := s.FirstDelivery(ctx, "done/"+key, ttl)
	return !first, err
}

// Done reports whether the work with an idempotence key had its effect.
func (s *Store) Done(ctx context.Context, key string) (bool, error) {
	resp, err := s.client.Get(ctx, s.deliveryKey("done/"+key), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("store: done %s: %w", key, err)
	}
	return resp.Count > 0, nil
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
	r := &enqueueRequest{ctx: ctx, delivery: delivery, ttl: ttl, job: newJob(kind, key, raw), done: make(chan enqueueResult, 1)}
	select {
	case s.batch <- r:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	res := <-r.done
	if res.err != nil || !res.queued {
		return nil, false, res.err
	}
	return r.job, true, nil
}

// CompleteBefore removes the jobs of a kind queued before a time, which
// a piece of work that began then has covered (a deploy of the branch
// head covers every push delivered before it read the head). It returns
// how many it removed, and moves the low mark up to the first job left.
func (s *Store) CompleteBefore(ctx context.Context, kind string, before time.Time) (int, error) {
	end := s.jobKey(timeID(before.UnixNano()))
	low, resp, err := s.readQueue(ctx, clientv3.WithRange(end))
	if err != nil {
		return 0, fmt.Errorf("store: complete %s jobs: %w", kind, err)
	}
	var ops []clientv3.Op
	n := 0
	newLow := timeID(before.UnixNano())
	for _, kv := range resp.Kvs {
		var j Job
		if json.Unmarshal(kv.Value, &j) != nil || j.Kind != kind {
			// Kept (a job it cannot read is kept too): the mark stops at
			// its id, which the key holds whatever the value.
			newLow = min(newLow, strings.TrimPrefix(string(kv.Key), s.jobKey("")))
			continue
		}
		ops = append(ops, clientv3.OpDelete(string(kv.Key)), clientv3.OpDelete(s.claimKey(j.ID)))
		n++
		if len(ops) >= 100 {
			if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
				return 0, fmt.Errorf("store: complete %s jobs: %w", kind, err)
			}
			ops = ops[:0]
		}
	}
	// The mark moves only if no job appeared below it since the read: one
	// queued meanwhile with an older id would be hidden.
	unchanged := clientv3.Compare(clientv3.ModRevision(s.jobKey(low)), "<", resp.Header.Revision+1).WithRange(end)
	if err := s.commitMovingMark(ctx, ops, low, newLow, unchanged); err != nil {
		return 0, fmt.Errorf("store: complete %s jobs: %w", kind, err)
	}
	return n, nil
}
