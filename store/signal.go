package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A signal says that something changed, not what: raising it bumps the
// etcd revision of its key, and a watcher that saw an older revision
// knows it has work to look for. Raising a signal a thousand times costs
// the watcher one look; unlike a job, a signal is never queued, claimed
// or left behind.

func (s *Store) signalKey(name string) string { return s.prefix + "signals/" + name }

// signalOp raises the named signal, with the time it was raised.
func (s *Store) signalOp(name string) clientv3.Op {
	return clientv3.OpPut(s.signalKey(name), time.Now().UTC().Format(time.RFC3339Nano))
}

// SignalOnce raises the named signal for a webhook delivery unless the
// delivery id was seen within ttl, in one transaction, and reports
// whether it raised it. Deliveries that arrive together share a
// transaction.
func (s *Store) SignalOnce(ctx context.Context, delivery string, ttl time.Duration, name string) (bool, error) {
	return s.submit(&enqueueRequest{ctx: ctx, delivery: delivery, ttl: ttl, signal: name})
}

// Signal raises the named signal.
func (s *Store) Signal(ctx context.Context, name string) error {
	if _, err := s.client.Do(ctx, s.signalOp(name)); err != nil {
		return fmt.Errorf("store: signal %s: %w", name, err)
	}
	return nil
}

// Signalled returns the revision at which the named signal was last
// raised (0 if never) and when.
func (s *Store) Signalled(ctx context.Context, name string) (rev int64, at time.Time, err error) {
	resp, err := s.client.Get(ctx, s.signalKey(name))
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
func (s *Store) commitSignal(ctx context.Context, name, delivery string, lease clientv3.LeaseID) (bool, error) {
	cmps, ops := s.deliveryOps(delivery, lease)
	resp, err := s.client.Txn(ctx).If(cmps...).Then(append(ops, s.signalOp(name))...).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}
