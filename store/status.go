package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// StatusRecord is one stored status record, such as a workflow's, or, from
// StreamRecords and WatchStream, a status or build record.
type StatusRecord struct {
	// Key names the record within the status prefix ("workflows/shop"),
	// or, from StreamRecords and WatchStream, within the store's
	// ("status/workflows/shop", "builds/<id>").
	Key string
	// Value is the record as the writer encoded it; nil when deleted.
	Value []byte
	// Revision is etcd's revision of the write: it orders changes and
	// serves as an event id.
	Revision int64
	// Deleted says the record was removed.
	Deleted bool
}

func (s *Store) statusPrefix() string { return s.prefix + StreamStatus }

// PutStatus writes a status record unless it holds value already, and
// reports whether it wrote. Equal writes thus cost etcd no revision.
//
// The write is conditioned on the revision read, not on the value: a
// value in the condition would travel through the raft log twice.
func (s *Store) PutStatus(ctx context.Context, key string, value []byte) (bool, error) {
	k := s.statusPrefix() + key
	for {
		cur, err := s.client.Get(ctx, k)
		if err != nil {
			return false, fmt.Errorf("store: put status %s: %w", key, err)
		}
		var rev int64
		if len(cur.Kvs) == 1 {
			if bytes.Equal(cur.Kvs[0].Value, value) {
				return false, nil
			}
			rev = cur.Kvs[0].ModRevision
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, string(value))).
			Commit()
		if err != nil {
			return false, fmt.Errorf("store: put status %s: %w", key, err)
		}
		if resp.Succeeded {
			return true, nil
		}
		// Another writer came between: compare with what it wrote.
	}
}

// DeleteStatus removes a status record.
func (s *Store) DeleteStatus(ctx context.Context, key string) error {
	if _, err := s.client.Delete(ctx, s.statusPrefix()+key); err != nil {
		return fmt.Errorf("store: delete status %s: %w", key, err)
	}
	return nil
}

// Statuses returns the status records under keyPrefix, ordered by key,
// and the revision they were read at.
func (s *Store) Statuses(ctx context.Context, keyPrefix string) ([]StatusRecord, int64, error) {
	resp, err := s.client.Get(ctx, s.statusPrefix()+keyPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("store: read statuses: %w", err)
	}
	out := make([]StatusRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, StatusRecord{Key: strings.TrimPrefix(string(kv.Key), s.statusPrefix()), Value: kv.Value, Revision: kv.ModRevision})
	}
	return out, resp.Header.Revision, nil
}

// Status returns one status record, or nil when there is none.
func (s *Store) Status(ctx context.Context, key string) (*StatusRecord, error) {
	resp, err := s.client.Get(ctx, s.statusPrefix()+key)
	if err != nil {
		return nil, fmt.Errorf("store: read status %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	kv := resp.Kvs[0]
	return &StatusRecord{Key: key, Value: kv.Value, Revision: kv.ModRevision}, nil
}
