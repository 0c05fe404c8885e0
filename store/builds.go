package store

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BuildRecord is one stored build record.
type BuildRecord struct {
	// ID names the build.
	ID string
	// Value is the record as the writer encoded it.
	Value []byte
	// Revision is etcd's revision of the record's last write: UpdateBuild
	// writes only over it.
	Revision int64
}

func (s *Store) buildKey(id string) string { return s.prefix + StreamBuilds + id }

// CreateBuild writes a build record unless one with its id exists, and
// reports whether it wrote.
func (s *Store) CreateBuild(ctx context.Context, id string, value []byte) (bool, error) {
	k := s.buildKey(id)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("store: create build %s: %w", id, err)
	}
	return resp.Succeeded, nil
}

// UpdateBuild replaces a build record if it is still at revision, and
// reports whether it did: false means another writer came between.
func (s *Store) UpdateBuild(ctx context.Context, id string, value []byte, revision int64) (bool, error) {
	k := s.buildKey(id)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", revision)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("store: update build %s: %w", id, err)
	}
	return resp.Succeeded, nil
}

// Build returns one build record, or nil when there is none.
func (s *Store) Build(ctx context.Context, id string) (*BuildRecord, error) {
	resp, err := s.client.Get(ctx, s.buildKey(id))
	if err != nil {
		return nil, fmt.Errorf("store: read build %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return &BuildRecord{ID: id, Value: resp.Kvs[0].Value, Revision: resp.Kvs[0].ModRevision}, nil
}

// Builds returns every build record, ordered by id.
func (s *Store) Builds(ctx context.Context) ([]BuildRecord, error) {
	prefix := s.buildKey("")
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("store: read builds: %w", err)
	}
	out := make([]BuildRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, BuildRecord{ID: strings.TrimPrefix(string(kv.Key), prefix), Value: kv.Value, Revision: kv.ModRevision})
	}
	return out, nil
}

// DeleteBuild removes a build record if it is still at revision, and
// reports whether it did: false means another writer came between, or the
// record is gone.
func (s *Store) DeleteBuild(ctx context.Context, id string, revision int64) (bool, error) {
	k := s.buildKey(id)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", revision)).
		Then(clientv3.OpDelete(k)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("store: delete build %s: %w", id, err)
	}
	return resp.Succeeded, nil
}
