package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *Store) userKey(id string) string    { return s.prefix + "users/" + id }
func (s *Store) tokenKey(hash string) string { return s.prefix + "tokens/" + hash }

// userTokenKey is the key of a user's token under the user's prefix,
// which lists the user's tokens; with hash "", the prefix.
func (s *Store) userTokenKey(user, hash string) string {
	return s.prefix + "usertokens/" + user + "/" + hash
}

// CreateUser writes a user record unless one with its id exists, and
// reports whether it wrote.
func (s *Store) CreateUser(ctx context.Context, id string, value []byte) (bool, error) {
	k := s.userKey(id)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("store: create user: %w", err)
	}
	return resp.Succeeded, nil
}

// User returns a user record, or nil when there is none.
func (s *Store) User(ctx context.Context, id string) ([]byte, error) {
	return s.get(ctx, s.userKey(id), "user")
}

// PutToken writes a token record of user under the hash of the token,
// deleted by etcd after ttl (rounded up to a second), with a key of it
// under the user's prefix on the same lease, so that both go together.
// When the user has limit tokens already, the oldest (the least recently
// issued or refreshed) are deleted in the same transaction and their
// leases revoked. The transaction holds only while none of the user's
// token keys changed since they were counted, and is retried otherwise:
// however many logins run at once, none takes a user past limit tokens.
func (s *Store) PutToken(ctx context.Context, user, hash string, value []byte, ttl time.Duration, limit int) error {
	if limit < 1 {
		return fmt.Errorf("store: put token: a limit of %d tokens", limit)
	}
	lease, err := s.tokenLease(ctx, ttl)
	if err != nil {
		return err
	}
	prefix := s.userTokenKey(user, "")
	for {
		var resp *clientv3.GetResponse
		resp, err = s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		if err != nil {
			break
		}
		var ops []clientv3.Op
		for _, kv := range resp.Kvs[:max(0, len(resp.Kvs)-limit+1)] {
			key := string(kv.Key)
			ops = append(ops, clientv3.OpDelete(key, clientv3.WithPrevKV()), clientv3.OpDelete(s.tokenKey(strings.TrimPrefix(key, prefix))))
		}
		ops = append(ops, clientv3.OpPut(s.tokenKey(hash), string(value), clientv3.WithLease(lease)),
			clientv3.OpPut(s.userTokenKey(user, hash), "", clientv3.WithLease(lease)))
		var txn *clientv3.TxnResponse
		txn, err = s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(prefix), "<", resp.Header.Revision+1).WithPrefix()).
			Then(ops...).
			Commit()
		if err != nil {
			break
		}
		if !txn.Succeeded {
			continue // another login or refresh of the user came first
		}
		var evicted []*mvccpb.KeyValue
		for i := 0; i < len(ops)-2; i += 2 {
			evicted = append(evicted, txn.Responses[i].GetResponseDeleteRange().PrevKvs...)
		}
		return s.revokeLeases(ctx, evicted)
	}
	// The lease holds nothing: revoke it rather than let it live for a
	// token's TTL.
	if _, rerr := s.client.Revoke(ctx, lease); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return fmt.Errorf("store: put token: %w", err)
}

// Token returns the record of a token's hash and its revision, which
// ReplaceToken compares; nil when there is none.
func (s *Store) Token(ctx context.Context, hash string) ([]byte, int64, error) {
	resp, err := s.client.Get(ctx, s.tokenKey(hash))
	if err != nil {
		return nil, 0, fmt.Errorf("store: read token: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// ReplaceToken deletes the record of user's token oldHash and writes
// value under newHash, deleted by etcd after ttl, with the user's key of
// each deleted and written alongside, in one transaction that holds only
// while the old record is still at revision (as Token read it). It
// reports whether it replaced: of replacements of one record, however
// many at once, exactly one does; the others write nothing.
func (s *Store) ReplaceToken(ctx context.Context, user, oldHash string, revision int64, newHash string, value []byte, ttl time.Duration) (bool, error) {
	lease, err := s.tokenLease(ctx, ttl)
	if err != nil {
		return false, err
	}
	old := s.tokenKey(oldHash)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(old), "=", revision)).
		Then(clientv3.OpDelete(old, clientv3.WithPrevKV()), clientv3.OpDelete(s.userTokenKey(user, oldHash)),
			clientv3.OpPut(s.tokenKey(newHash), string(value), clientv3.WithLease(lease)),
			clientv3.OpPut(s.userTokenKey(user, newHash), "", clientv3.WithLease(lease))).
		Commit()
	if err == nil && resp.Succeeded {
		return true, s.revokeLeases(ctx, resp.Responses[0].GetResponseDeleteRange().PrevKvs)
	}
	// The new lease holds nothing: revoke it rather than let it live for
	// a token's TTL.
	if _, rerr := s.client.Revoke(ctx, lease); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return false, fmt.Errorf("store: replace token: %w", err)
	}
	return false, nil
}

// tokenLease grants the lease of a token record that lives ttl, rounded
// up to a second.
func (s *Store) tokenLease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	lease, err := s.client.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("store: token lease: %w", err)
	}
	return lease.ID, nil
}

// DeleteToken deletes the record of a token's hash and revokes the lease
// it was written with, which deletes the user's key of it too: a lease
// outlives its keys until its TTL, and a refresh, which revokes a token,
// can be called as fast as a client likes.
func (s *Store) DeleteToken(ctx context.Context, hash string) error {
	resp, err := s.client.Delete(ctx, s.tokenKey(hash), clientv3.WithPrevKV())
	if err != nil {
		return fmt.Errorf("store: delete token: %w", err)
	}
	return s.revokeLeases(ctx, resp.PrevKvs)
}

// revokeLeases revokes the leases deleted token records were written
// with.
func (s *Store) revokeLeases(ctx context.Context, deleted []*mvccpb.KeyValue) error {
	for _, kv := range deleted {
		if kv.Lease == 0 {
			continue
		}
		if _, err := s.client.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("store: revoke token lease: %w", err)
		}
	}
	return nil
}

// get returns the value of key, or nil when there is none; what names the
// record in errors.
func (s *Store) get(ctx context.Context, key, what string) ([]byte, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", what, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}
