package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseReuse is how long records of one ttl share an etcd lease: a lease
// per record would cost a raft round each. A record so lives for at least
// its ttl and at most ttl+leaseReuse.
const leaseReuse = time.Hour

// leases hands out shared leases, one per ttl at a time.
type leases struct {
	mu     sync.Mutex
	shared map[time.Duration]sharedLease
}

type sharedLease struct {
	id    clientv3.LeaseID
	until time.Time // when to stop handing it out
}

// lease returns a lease that keeps a record for at least ttl.
func (q *Queue) lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	q.leases.mu.Lock()
	defer q.leases.mu.Unlock()
	if l, ok := q.leases.shared[ttl]; ok && time.Now().Before(l.until) {
		return l.id, nil
	}
	resp, err := q.client.Grant(ctx, int64((ttl+leaseReuse)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("grant a lease: %w", err)
	}
	if q.leases.shared == nil {
		q.leases.shared = map[time.Duration]sharedLease{}
	}
	q.leases.shared[ttl] = sharedLease{id: resp.ID, until: time.Now().Add(leaseReuse)}
	return resp.ID, nil
}

// forgetLease stops handing out a lease a write failed with, in case etcd
// lost it; the next record gets a new one.
func (q *Queue) forgetLease(ttl time.Duration, id clientv3.LeaseID) {
	q.leases.mu.Lock()
	defer q.leases.mu.Unlock()
	if q.leases.shared[ttl].id == id {
		delete(q.leases.shared, ttl)
	}
}

// deliveryOps are the condition and write that record a delivery for the
// first time, for at least the ttl of lease; none when delivery is "".
// Delivery records have a key space of their own: no id a client sends
// can name another record.
func (q *Queue) deliveryOps(delivery string, lease clientv3.LeaseID) ([]clientv3.Cmp, []clientv3.Op) {
	if delivery == "" {
		return nil, nil
	}
	dkey := q.deliveryKey(delivery)
	return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(dkey), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(dkey, time.Now().UTC().Format(time.RFC3339), clientv3.WithLease(lease))}
}
