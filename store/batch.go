package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Deliveries that arrive together are recorded and queued in one etcd
// transaction (group commit): a transaction per delivery would spend most
// of the time in etcd's per-request work. A batch is whatever waits when
// a committer is free, so a lone delivery is not delayed; several
// committers keep etcd busy while one waits for its answer.
const (
	maxBatch   = 50 // etcd allows 128 operations per transaction; each delivery takes 2
	committers = 4
)

// enqueueRequest is one EnqueueOnce or SignalOnce call waiting for its
// batch: the record of a delivery, and either a job to queue or a signal
// to raise.
type enqueueRequest struct {
	ctx      context.Context
	delivery string
	ttl      time.Duration
	job      *Job
	signal   string
	done     chan enqueueResult
}

type enqueueResult struct {
	queued bool
	err    error
}

// submit hands a request to the batcher and waits for its result.
func (q *Queue) submit(r *enqueueRequest) (bool, error) {
	r.done = make(chan enqueueResult, 1)
	select {
	case q.batch <- r:
	case <-r.ctx.Done():
		return false, r.ctx.Err()
	}
	res := <-r.done
	return res.queued, res.err
}

// runBatcher serves EnqueueOnce and SignalOnce calls until stop is closed.
func (q *Queue) runBatcher(stop <-chan struct{}) {
	for {
		var first *enqueueRequest
		select {
		case <-stop:
			return
		case first = <-q.batch:
		}
		reqs := []*enqueueRequest{first}
	collect:
		for len(reqs) < maxBatch {
			select {
			case r := <-q.batch:
				reqs = append(reqs, r)
			default:
				break collect
			}
		}
		q.commitBatch(reqs)
	}
}

// commitBatch records and queues a batch at once; when any delivery was
// seen before (or the batch fails), each is done on its own instead.
func (q *Queue) commitBatch(reqs []*enqueueRequest) {
	if len(reqs) > 1 {
		if err := q.commitTogether(reqs); err == nil {
			for _, r := range reqs {
				r.done <- enqueueResult{queued: true}
			}
			return
		}
	}
	for _, r := range reqs {
		queued, err := q.commitOne(r)
		r.done <- enqueueResult{queued, err}
	}
}

func (q *Queue) commitTogether(reqs []*enqueueRequest) error {
	ctx := reqs[0].ctx
	ttl := reqs[0].ttl
	for _, r := range reqs {
		ttl = max(ttl, r.ttl)
	}
	lease, err := q.lease(ctx, ttl)
	if err != nil {
		return err
	}
	cmps := make([]clientv3.Cmp, 0, 2*len(reqs))
	ops := make([]clientv3.Op, 0, 2*len(reqs))
	raised := map[string]bool{} // etcd refuses two writes of a key in one transaction
	for _, r := range reqs {
		c, o := q.deliveryOps(r.delivery, lease)
		cmps, ops = append(cmps, c...), append(ops, o...)
		switch {
		case r.job != nil:
			c, o := q.jobOps(r.job)
			cmps, ops = append(cmps, c...), append(ops, o...)
		case !raised[r.signal]:
			raised[r.signal] = true
			ops = append(ops, q.signalOp(r.signal))
		}
	}
	resp, err := q.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		q.forgetLease(ttl, lease)
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("a delivery of the batch was seen before, or a job id is below the low mark")
	}
	return nil
}

func (q *Queue) commitOne(r *enqueueRequest) (bool, error) {
	lease, err := q.lease(r.ctx, r.ttl)
	if err != nil {
		return false, fmt.Errorf("store: delivery %s: %w", r.delivery, err)
	}
	if r.job == nil {
		queued, err := q.commitSignal(r.ctx, r.signal, r.delivery, lease)
		if err != nil {
			q.forgetLease(r.ttl, lease)
			return false, fmt.Errorf("store: signal %s: %w", r.signal, err)
		}
		return queued, nil
	}
	queued, err := q.commitJob(r.ctx, r.job, r.delivery, lease)
	if err != nil {
		q.forgetLease(r.ttl, lease)
		return false, fmt.Errorf("store: enqueue %s: %w", r.job.Kind, err)
	}
	return queued, nil
}
