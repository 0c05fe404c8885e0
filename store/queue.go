package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	b, _ := json.Marshal(j)
	if _, err := s.client.Put(ctx, s.jobKey(j.ID), string(b)); err != nil {
		return nil, fmt.Errorf("store: enqueue %s: %w", kind, err)
	}
	return j, nil
}

// newJob makes a job whose id sorts by time.
func newJob(kind, key string, payload json.RawMessage) *Job {
	var rnd [4]byte
	rand.Read(rnd[:])
	now := time.Now().UTC()
	return &Job{ID: fmt.Sprintf("%020d-%s", now.UnixNano(), hex.EncodeToString(rnd[:])), Kind: kind, Key: key, Payload: payload, Enqueued: now}
}

func (s *Store) jobKey(id string) string   { return s.prefix + "jobs/" + id }
func (s *Store) claimKey(id string) string { return s.prefix + "claims/" + id }

// Claim takes the oldest job no live worker holds. The claim lives as
// long as the worker's lease: a worker that dies lets its job be claimed
// again, so every job runs at least once. It returns ErrEmpty when no job
// waits.
func (s *Store) Claim(ctx context.Context, worker string, lease clientv3.LeaseID) (*Job, error) {
	resp, err := s.client.Get(ctx, s.prefix+"jobs/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(64))
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

// Complete removes a finished job and its claim.
func (s *Store) Complete(ctx context.Context, j *Job) error {
	if _, err := s.client.Txn(ctx).Then(clientv3.OpDelete(s.jobKey(j.ID)), clientv3.OpDelete(s.claimKey(j.ID))).Commit(); err != nil {
		return fmt.Errorf("store: complete %s: %w", j.ID, err)
	}
	return nil
}

// Depth counts the jobs queued or running.
func (s *Store) Depth(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, s.prefix+"jobs/", clientv3.WithPrefix(), clientv3.WithCountOnly())
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
	resp, err := s.client.Get(ctx, s.prefix+"deliveries/done/"+key, clientv3.WithCountOnly())
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
// how many it removed.
func (s *Store) CompleteBefore(ctx context.Context, kind string, before time.Time) (int, error) {
	end := s.jobKey(fmt.Sprintf("%020d", before.UnixNano()))
	resp, err := s.client.Get(ctx, s.prefix+"jobs/", clientv3.WithRange(end))
	if err != nil {
		return 0, fmt.Errorf("store: complete %s jobs: %w", kind, err)
	}
	var ops []clientv3.Op
	n := 0
	for _, kv := range resp.Kvs {
		var j Job
		if json.Unmarshal(kv.Value, &j) != nil || j.Kind != kind {
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
	if len(ops) > 0 {
		if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
			return 0, fmt.Errorf("store: complete %s jobs: %w", kind, err)
		}
	}
	return n, nil
}
