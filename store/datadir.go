package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/datadir"
	"go.etcd.io/etcd/server/v3/storage/schema"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// lockWait is how long the check of a data directory waits for the
// database's file lock, which a running etcd holds.
const lockWait = 10 * time.Second

// checkDataDir reads the embedded etcd's data directory before etcd
// starts on it, and returns an ErrDamaged error for the damage etcd
// reports badly: by starting empty, hanging, panicking or crashing the
// process on a memory fault. It gives up when ctx is done.
func checkDataDir(ctx context.Context, dir string) error {
	done := make(chan error, 1)
	go func() { done <- checkMember(dir) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("store: check data directory %s: %w", dir, ctx.Err())
	}
}

// checkMember checks the etcd member directory of the data directory dir:
// that the write-ahead log and the database read back whole, and that
// the database has applied no entry the log no longer holds (etcd would
// wait forever for it).
func checkMember(dir string) error {
	etcdDir := filepath.Join(dir, "etcd")
	member := datadir.ToMemberDir(etcdDir)
	_, err := os.Stat(member)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Join(dir, memberFile)); err == nil {
			return damaged(dir, "its etcd member directory %s is gone, though etcd ran here before (%s says so); the state it held is lost", member, memberFile)
		}
		return nil // a new data directory
	case err != nil:
		return fmt.Errorf("store: data directory %s: %w", dir, err)
	}
	last, err := checkWAL(dir, datadir.ToWALDir(etcdDir))
	if err != nil {
		return err
	}
	db := datadir.ToBackendFileName(etcdDir)
	applied, err := checkDB(dir, db)
	if err != nil {
		return err
	}
	if applied > last {
		return damaged(dir, "the database %s has applied the log up to entry %d, but the write-ahead log %s ends at entry %d: it lost entries, cut short or overwritten", db, applied, datadir.ToWALDir(etcdDir), last)
	}
	return nil
}

// checkWAL reads the write-ahead log in walDir through, as etcd reads it
// at start, and returns the index of its last entry, or of the snapshot
// it starts from when it holds no entry after it.
func checkWAL(dir, walDir string) (last uint64, err error) {
	defer recoverDamage(dir, "the write-ahead log "+walDir, &err)
	if logs, _ := filepath.Glob(filepath.Join(walDir, "*.wal")); len(logs) == 0 {
		return 0, damaged(dir, "the write-ahead log %s is missing or empty; etcd cannot recover its state without it", walDir)
	}
	lg := checkLogger()
	snaps, err := wal.ValidSnapshotEntries(lg, walDir)
	if err != nil {
		return 0, walDamaged(dir, walDir, err)
	}
	if len(snaps) == 0 {
		return 0, damaged(dir, "the write-ahead log %s holds no record (it was cut short)", walDir)
	}
	from := snaps[len(snaps)-1]
	w, err := wal.OpenForRead(lg, walDir, from)
	if err != nil {
		return 0, walDamaged(dir, walDir, err)
	}
	defer w.Close()
	_, _, ents, err := w.ReadAll()
	if err != nil {
		return 0, walDamaged(dir, walDir, err)
	}
	if len(ents) == 0 {
		return from.GetIndex(), nil
	}
	return ents[len(ents)-1].GetIndex(), nil
}

func walDamaged(dir, walDir string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("store: data directory %s: read the write-ahead log: %w", dir, err)
	}
	return damaged(dir, "the write-ahead log %s cannot be read: %v", walDir, err)
}

// checkDB opens the bbolt database file read-only, checks every page of
// it and returns the index of the last log entry it applied.
func checkDB(dir, file string) (applied uint64, err error) {
	// A page past the end of a truncated file faults in bbolt's memory
	// map: a panic here, not a crash of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverDamage(dir, "the database "+file, &err)
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, damaged(dir, "the database %s is missing, though the write-ahead log is there", file)
	case err != nil:
		return 0, fmt.Errorf("store: data directory %s: %w", dir, err)
	case fi.Size() == 0:
		return 0, damaged(dir, "the database %s is empty", file)
	}
	db, err := bolt.Open(file, 0, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return 0, fmt.Errorf("store: data directory %s: the database %s is locked by another process: another etcd, or another service, runs on this directory", dir, file)
	case errors.Is(err, fs.ErrPermission):
		return 0, fmt.Errorf("store: data directory %s: %w", dir, err)
	case err != nil:
		return 0, damaged(dir, "the database %s cannot be opened: %v", file, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return damaged(dir, "the database %s is %d bytes, %d short of its last page (it was cut short)", file, fi.Size(), tx.Size()-fi.Size())
		}
		// Check rebuilds the free page list of a database etcd wrote
		// (without one) in a goroutine of its own, where reading a
		// corrupt page panics beyond recovery: read every page here first.
		if err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return readBucket(b, 0) }); err != nil {
			return damaged(dir, "the database %s is corrupt: %v", file, err)
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return damaged(dir, "the database %s is corrupt: %v", file, errors.Join(errs...))
		}
		if b := tx.Bucket(schema.Meta.Name()); b != nil {
			if v := b.Get(schema.MetaConsistentIndexKeyName); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return applied, err
}

// maxNesting bounds the depth of buckets readBucket reads: etcd nests
// none, and a corrupt database could nest them without end.
const maxNesting = 8

// readBucket reads every key of b and of the buckets it nests, depth
// levels below the top.
func readBucket(b *bolt.Bucket, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("buckets nested more than %d deep", maxNesting)
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue
		}
		if nested := b.Bucket(k); nested != nil {
			if err := readBucket(nested, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// recoverDamage turns a panic of the etcd or bbolt code reading what
// names into an ErrDamaged error in *err.
func recoverDamage(dir, what string, err *error) {
	if r := recover(); r != nil {
		*err = damaged(dir, "%s cannot be read: %v", what, r)
	}
}

// checkLogger is the logger given to etcd's log reading: silent, and
// panicking rather than exiting on a fatal error, so that recoverDamage
// reports it.
func checkLogger() *zap.Logger {
	return zap.NewNop().WithOptions(zap.WithFatalHook(zapcore.WriteThenPanic))
}
