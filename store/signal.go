package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A signal (see Queue) is raised by bumping the etcd revision of its key:
// a watcher that saw an older revision knows it has work to look for.

func (q *Queue) signalKey(name string) string { return q.prefix + "signals/" + name }

// signalOp raises the named signal, with the time it was raised.
func (q *Queue) signalOp(name string) clientv3.Op {
	return clientv3.OpPut(q.signalKey(name), time.Now().UTC().Format(time.RFC3339Nano))
}

// SignalOnce raises the named signal for a webhook delivery unless the
// delivery id was seen within ttl, in one transaction, and reports
// whether it raised it. Deliveries that arrive together share a
// transaction.
func (q *Queue) SignalOnce(ctx context.Context, delivery string, ttl time.Duration, name string) (bool, error) {
	return q.submit(&enqueueRequest{ctx: ctx, delivery: delivery, ttl: ttl, signal: name})
}

// Signal raises the named signal.
func (q *Queue) Signal(ctx context.Context, name string) error {
	if _, err := q.client.Do(ctx, q.signalOp(name)); err != nil {
		return fmt.Errorf("store: signal %s: %w", name, err)
	}
	return nil
}

// Signalled returns the revision at which the named signal was last
// raised (0 if never) and when.
func (q *Queue) Signalled(ctx context.Context, name string) (rev int64, at time.Time, err error) {
	resp, err := q.client.Get(ctx, q.signalKey(name))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: signal %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, time.Time{}, nil
	}
	kv := resp.Kvs[0]
	at, _ = time.Parse(time.RFC3339Nano, string(kv.Value))
	return kv.ModRevision, at, nil
}

// commitSignal raises a signal and records the delivery, unless it was
// seen before, in one transaction; it reports whether it did.
func (q *Queue) commitSignal(ctx context.Context, name, delivery string, lease clientv3.LeaseID) (bool, error) {
	cmps, ops := q.deliveryOps(delivery, lease)
	resp, err := q.client.Txn(ctx).If(cmps...).Then(append(ops, q.signalOp(name))...).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}
