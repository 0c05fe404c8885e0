package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// FirstDelivery records a webhook delivery id and reports whether it is
// the first time the id is seen. The record lives for ttl, across
// restarts and replicas, so that a replayed delivery does nothing new.
func (s *Store) FirstDelivery(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	lease, err := s.client.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return false, fmt.Errorf("store: delivery %s: %w", id, err)
	}
	key := s.prefix + "deliveries/" + id
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(lease.ID))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("store: delivery %s: %w", id, err)
	}
	if !resp.Succeeded {
		s.client.Revoke(ctx, lease.ID)
	}
	return resp.Succeeded, nil
}
