package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrCompacted says a watch asked for history etcd no longer keeps: the
// caller reads the current records instead.
var ErrCompacted = errors.New("store: the history asked for is compacted")

// The families of records an event stream follows, as the keys of
// StreamRecords and WatchStream begin.
const (
	// StreamStatus begins the keys of status records ("status/workflows/shop").
	StreamStatus = "status/"
	// StreamBuilds begins the keys of build records ("builds/<id>").
	StreamBuilds = "builds/"
)

// StreamRecords returns the status and build records, read at one
// revision, and that revision. Their keys are within the store's prefix:
// StreamStatus or StreamBuilds, then the key within that family.
func (s *Store) StreamRecords(ctx context.Context) ([]StatusRecord, int64, error) {
	resp, err := s.client.Txn(ctx).Then(
		clientv3.OpGet(s.prefix+StreamStatus, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)),
		clientv3.OpGet(s.prefix+StreamBuilds, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)),
	).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("store: read status and build records: %w", err)
	}
	var out []StatusRecord
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			out = append(out, StatusRecord{Key: strings.TrimPrefix(string(kv.Key), s.prefix), Value: kv.Value, Revision: kv.ModRevision})
		}
	}
	return out, resp.Header.Revision, nil
}

// WatchStream calls fn with every change of a status or build record
// after revision after, keyed as StreamRecords keys them, in revision
// order, until ctx ends or fn returns an error. When that history is
// compacted it returns ErrCompacted. etcd's watch resumes by itself
// across a lost connection.
//
// One watch covers both families, so that their changes come in one
// order: it spans the keys from StreamBuilds to StreamStatus, and the
// changes of the keys between (the queue's) are passed over here.
func (s *Store) WatchStream(ctx context.Context, after int64, fn func(StatusRecord) error) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	from, status := s.prefix+StreamBuilds, s.prefix+StreamStatus
	wc := s.client.Watch(ctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(status)), clientv3.WithRev(after+1))
	for resp := range wc {
		if err := resp.Err(); err != nil {
			if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
				return ErrCompacted
			}
			return fmt.Errorf("store: watch status and build records: %w", err)
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			if !strings.HasPrefix(key, from) && !strings.HasPrefix(key, status) {
				continue
			}
			r := StatusRecord{Key: strings.TrimPrefix(key, s.prefix), Revision: ev.Kv.ModRevision}
			if ev.Type == clientv3.EventTypeDelete {
				r.Deleted = true
			} else {
				r.Value = bytes.Clone(ev.Kv.Value)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}
