package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Session is a replica's lease: the job claims, locks and leadership it
// takes end when it ends, or when the replica stops renewing it (a
// crash), so that another replica can take them over.
type Session struct {
	store *Store
	cs    *concurrency.Session
	// lease is the session's etcd lease, which its claims live with.
	lease clientv3.LeaseID
}

// NewSession grants a lease of ttl and keeps it alive until Close.
func (s *Store) NewSession(ctx context.Context, ttl time.Duration) (*Session, error) {
	cs, err := concurrency.NewSession(s.client, concurrency.WithTTL(int(ttl/time.Second)), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	return &Session{store: s, cs: cs, lease: cs.Lease()}, nil
}

// Done is closed when the session ends: closed, or its lease lost.
func (ss *Session) Done() <-chan struct{} { return ss.cs.Done() }

// stop stops renewing the lease without revoking it, as a crash would.
func (ss *Session) stop() { ss.cs.Orphan() }

// Close ends the session and releases what it held.
func (ss *Session) Close(context.Context) error {
	return ss.cs.Close()
}

// Lock waits for the named lock and holds it until unlock is called or
// the session ends; two replicas never hold it at once.
func (ss *Session) Lock(ctx context.Context, name string) (unlock func(context.Context) error, err error) {
	m := concurrency.NewMutex(ss.cs, ss.store.prefix+"locks/"+name)
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", name, err)
	}
	return m.Unlock, nil
}

// Campaign waits until this session leads the named election, as id, and
// returns a function that resigns. Leadership ends with the session: when
// a leader dies, another campaigner takes over once its lease expires.
func (ss *Session) Campaign(ctx context.Context, name, id string) (resign func(context.Context) error, err error) {
	e := concurrency.NewElection(ss.cs, ss.store.prefix+"elections/"+name)
	if err := e.Campaign(ctx, id); err != nil {
		return nil, fmt.Errorf("store: campaign %s: %w", name, err)
	}
	return e.Resign, nil
}

// Leader returns the id of the named election's leader, or "" when there
// is none.
func (s *Store) Leader(ctx context.Context, name string) (string, error) {
	resp, err := s.client.Get(ctx, s.prefix+"elections/"+name+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("store: leader of %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Lead starts a session of ttl, waits until it leads the named election
// as id, and then calls follow with a context that ends when ctx ends or
// the session does (its lease lost). The session is closed when follow
// returns. Lead returns follow's error while ctx is live, and otherwise
// an error saying the session ended, so a caller campaigns again.
func (s *Store) Lead(ctx context.Context, ttl time.Duration, name, id string, follow func(ctx context.Context, sess *Session) error) error {
	sess, err := s.NewSession(ctx, ttl)
	if err != nil {
		return err
	}
	defer sess.Close(context.WithoutCancel(ctx))
	if _, err := sess.Campaign(ctx, name, id); err != nil {
		return err
	}
	lead, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lead.Done():
		}
	}()
	if err := follow(lead, sess); err != nil && ctx.Err() == nil {
		return err
	}
	return errors.New("the session ended")
}
