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
)

// Queue is the store's durable work queue, in two forms. A job is a unit
// of work that must run (a pull-request review): queued once per webhook
// delivery, claimed by one worker at a time, retried, and recorded when it
// fails for good. A signal says only that something changed (a push to
// the source branch), not what: raising it a thousand times costs its
// watcher one look, and it is never queued, claimed or left behind.
//
// The queue keeps these invariants, which its callers may rely on and
// its code must keep:
//
//   - A delivery is recorded under deliveries/<id> in the same
//     transaction that queues its job or raises its signal, and kept for
//     at least the ttl the caller gives (at most an hour more, as records
//     of one ttl share a lease): a delivery is never recorded without its
//     work, nor its work queued twice within ttl. Delivery ids have this
//     key space to themselves: no id a client sends can name a job, a
//     claim or a signal.
//   - A job lives under jobs/<id> from EnqueueOnce until Complete or Fail
//     removes it; ids sort by the time they were queued, so Claim offers
//     the oldest claimable job first. A completed job leaves no record.
//   - The low mark (queue/low) is a job id below which no job waits:
//     reads of the queue start at it, because deleted jobs stay in etcd's
//     index until it compacts and a range over them costs as much as one
//     over live jobs. Complete and Fail move the mark up when they remove
//     the oldest job, in the same transaction, and a job is only ever
//     queued above it (a replica with a slow clock takes an id just above
//     the mark instead), so no job is hidden below it.
//   - Claim gives a job to at most one claim at a time, under claims/<id>,
//     which lives with the claiming Session's lease. A held job is
//     released by Release (claimable again from a given time, with the
//     reason of the failed attempt), or by the end of its session (closed,
//     or its lease expired after a crash): so every job runs at least
//     once. Complete and Fail end it for good. Release applies only to the
//     claim it was given: after the job was claimed again it returns
//     ErrLostClaim, and the newer claim decides.
//   - A job that waits (a NotBefore in the future) or is held never keeps
//     Claim from the jobs behind it: Claim reads the queue page by page
//     past them, so no number or kind of failing jobs stops the rest.
//   - A job that fails for good leaves the queue for failed/<id>, with
//     its reason, for at least the ttl given to Fail (at most an hour
//     more); Failed lists those records.
//
// What a job means, how often it is tried and how long it waits between
// attempts are the callers' business.
type Queue struct {
	client *clientv3.Client
	prefix string
	leases leases
	// batch feeds EnqueueOnce and SignalOnce calls to the batcher.
	batch chan *enqueueRequest
}

// JobKind names the kind of a job, and so the handler that runs it. The
// queue knows no kinds: its callers define them.
type JobKind string

// Job is a unit of queued work.
type Job struct {
	// ID orders jobs: older first.
	ID string `json:"id"`
	// Kind names the handler.
	Kind JobKind `json:"kind"`
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
func newJob(kind JobKind, key string, payload json.RawMessage) *Job {
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

func (q *Queue) jobKey(id string) string      { return q.prefix + "jobs/" + id }
func (q *Queue) claimKey(id string) string    { return q.prefix + "claims/" + id }
func (q *Queue) failedKey(id string) string   { return q.prefix + "failed/" + id }
func (q *Queue) deliveryKey(id string) string { return q.prefix + "deliveries/" + id }
func (q *Queue) lowKey() string               { return q.prefix + "queue/low" }

// jobsEnd is the end of the range of job keys.
func (q *Queue) jobsEnd() string { return clientv3.GetPrefixRangeEnd(q.prefix + "jobs/") }

// initLowMark creates the low mark unless it exists.
func (q *Queue) initLowMark(ctx context.Context) error {
	_, err := q.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(q.lowKey()), "=", 0)).Then(clientv3.OpPut(q.lowKey(), "")).Commit()
	if err != nil {
		return fmt.Errorf("store: queue: %w", err)
	}
	return nil
}

// lowMark reads the low mark.
func (q *Queue) lowMark(ctx context.Context) (string, error) {
	resp, err := q.client.Get(ctx, q.lowKey())
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
func (q *Queue) commitMovingMark(ctx context.Context, ops []clientv3.Op, low, to string, cond clientv3.Cmp) error {
	moved := append(slices.Clip(ops), clientv3.OpPut(q.lowKey(), to))
	_, err := q.client.Txn(ctx).
		If(cond, clientv3.Compare(clientv3.Value(q.lowKey()), "=", low)).
		Then(moved...).
		Else(ops...).
		Commit()
	return err
}

// aboveLow is the transaction condition that a job id is above the low
// mark.
func (q *Queue) aboveLow(id string) clientv3.Cmp {
	return clientv3.Compare(clientv3.Value(q.lowKey()), "<", id)
}

// jobOps are the condition and write that queue j above the low mark.
func (q *Queue) jobOps(j *Job) ([]clientv3.Cmp, []clientv3.Op) {
	b, _ := json.Marshal(j)
	return []clientv3.Cmp{q.aboveLow(j.ID)}, []clientv3.Op{clientv3.OpPut(q.jobKey(j.ID), string(b))}
}

// commitJob queues j, with the record of a delivery unless delivery is
// "", in one transaction, and reports whether it did: not when the
// delivery was seen before. An id at or below the low mark is replaced by
// one above it.
func (q *Queue) commitJob(ctx context.Context, j *Job, delivery string, lease clientv3.LeaseID) (bool, error) {
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			return false, fmt.Errorf("job %s stays at or below the low mark", j.ID)
		}
		cmps, ops := q.jobOps(j)
		c, o := q.deliveryOps(delivery, lease)
		cmps, ops = append(cmps, c...), append(ops, o...)
		orElse := []clientv3.Op{clientv3.OpGet(q.lowKey())}
		if delivery != "" {
			orElse = append(orElse, clientv3.OpGet(q.deliveryKey(delivery), clientv3.WithCountOnly()))
		}
		resp, err := q.client.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
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
			if err := q.initLowMark(ctx); err != nil {
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

// Claim takes the oldest job that no live session holds and that does
// not wait for a retry, for sess, naming worker in the claim. The claim
// lives as long as the session: a worker that dies lets its job be
// claimed again, so every job runs at least once. It reads past held and
// waiting jobs, however many, and returns ErrEmpty when no job can be
// claimed now.
func (q *Queue) Claim(ctx context.Context, sess *Session, worker string) (*Job, error) {
	low, err := q.lowMark(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: claim: %w", err)
	}
	end := q.jobsEnd()
	from := q.jobKey(low)
	now := time.Now()
	for {
		resp, err := q.client.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(claimPage))
		if err != nil {
			return nil, fmt.Errorf("store: claim: %w", err)
		}
		for _, kv := range resp.Kvs {
			j, err := q.tryClaim(ctx, kv, worker, sess.lease, now)
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
func (q *Queue) tryClaim(ctx context.Context, kv *mvccpb.KeyValue, worker string, lease clientv3.LeaseID, now time.Time) (*Job, error) {
	var j Job
	if err := json.Unmarshal(kv.Value, &j); err != nil {
		return nil, fmt.Errorf("store: job %s: %w", kv.Key, err)
	}
	if now.Before(j.NotBefore) {
		return nil, nil
	}
	j.Attempts++
	b, _ := json.Marshal(j)
	claim := q.claimKey(j.ID)
	txn, err := q.client.Txn(ctx).
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
func (q *Queue) Release(ctx context.Context, j *Job, notBefore time.Time, reason string) error {
	next := *j
	next.NotBefore, next.LastError = notBefore.UTC(), reason
	b, _ := json.Marshal(next)
	resp, err := q.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(q.jobKey(j.ID)), "=", j.rev)).
		Then(clientv3.OpPut(q.jobKey(j.ID), string(b)), clientv3.OpDelete(q.claimKey(j.ID))).
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
func (q *Queue) Complete(ctx context.Context, j *Job) error {
	if err := q.remove(ctx, j, nil); err != nil {
		return fmt.Errorf("store: complete %s: %w", j.ID, err)
	}
	return nil
}

// Fail removes a job that will not be tried again and records it, with
// the reason, under failed/ for ttl.
func (q *Queue) Fail(ctx context.Context, j *Job, reason string, ttl time.Duration) error {
	lease, err := q.lease(ctx, ttl)
	if err != nil {
		return fmt.Errorf("store: fail %s: %w", j.ID, err)
	}
	rec := *j
	rec.LastError = reason
	b, _ := json.Marshal(rec)
	if err := q.remove(ctx, j, []clientv3.Op{clientv3.OpPut(q.failedKey(j.ID), string(b), clientv3.WithLease(lease))}); err != nil {
		q.forgetLease(ttl, lease)
		return fmt.Errorf("store: fail %s: %w", j.ID, err)
	}
	return nil
}

// Failed returns the failed jobs still recorded, oldest first.
func (q *Queue) Failed(ctx context.Context) ([]Job, error) {
	resp, err := q.client.Get(ctx, q.failedKey(""), clientv3.WithPrefix())
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
func (q *Queue) remove(ctx context.Context, j *Job, ops []clientv3.Op) error {
	low, err := q.lowMark(ctx)
	if err != nil {
		return err
	}
	ops = append(ops, clientv3.OpDelete(q.jobKey(j.ID)), clientv3.OpDelete(q.claimKey(j.ID)))
	// No job waits between the mark and this one (an empty range compares
	// as a key never created).
	oldest := clientv3.Compare(clientv3.CreateRevision(q.jobKey(low)), "=", 0).WithRange(q.jobKey(j.ID))
	return q.commitMovingMark(ctx, ops, low, max(low, j.ID), oldest)
}

// Depth counts the jobs queued or running.
func (q *Queue) Depth(ctx context.Context) (int64, error) {
	low, err := q.lowMark(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: depth: %w", err)
	}
	resp, err := q.client.Get(ctx, q.jobKey(low), clientv3.WithRange(q.jobsEnd()), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("store: depth: %w", err)
	}
	return resp.Count, nil
}

// EnqueueOnce queues a job for a webhook delivery unless the delivery id
// was seen within ttl, in one transaction: a delivery is never recorded
// without its job, nor queued twice. It reports whether it queued.
// Deliveries that arrive together share a transaction.
func (q *Queue) EnqueueOnce(ctx context.Context, delivery string, ttl time.Duration, kind JobKind, key string, payload any) (*Job, bool, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, false, fmt.Errorf("store: enqueue %s: %w", kind, err)
	}
	r := &enqueueRequest{ctx: ctx, delivery: delivery, ttl: ttl, job: newJob(kind, key, raw)}
	queued, err := q.submit(r)
	if err != nil || !queued {
		return nil, false, err
	}
	return r.job, true, nil
}
