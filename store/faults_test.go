package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hangAfter is how long a test waits for Open to return on a damaged data
// directory before it calls it hung: far more than a refusal takes (a few
// milliseconds), and far less than forever, which is how long some damage
// once made it wait.
const hangAfter = 60 * time.Second

// openBounded opens a store with cfg and closes it at once, and returns
// Open's error; it fails the test if Open has not returned in hangAfter.
func openBounded(ctx context.Context, t *testing.T, cfg Config) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		s, err := Open(ctx, cfg)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(hangAfter):
		t.Fatalf("Open on %s still runs after %s", cfg.DataDir, hangAfter)
		return nil
	}
}

// walFile returns the member's write-ahead log file (one: the tests write
// far less than a file holds) and how many bytes of it hold records: etcd
// makes the file its full size up front, and fills it with zeros.
func walFile(t *testing.T, member string) (string, int64) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(member, "wal", "*.wal"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one write-ahead log file in %s, have %v (%v)", member, files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return files[0], int64(len(bytes.TrimRight(b, "\x00")))
}

// truncateWAL cuts the member's write-ahead log to the first num/den of
// its records, or to size bytes when den is 0.
func truncateWAL(num, den int64) func(t *testing.T, member string) {
	return func(t *testing.T, member string) {
		file, used := walFile(t, member)
		size := num
		if den != 0 {
			size = used * num / den
		}
		if err := os.Truncate(file, size); err != nil {
			t.Fatal(err)
		}
	}
}

// overwrite writes garbage over n bytes of the file at path in member,
// from offset at.
func overwrite(path string, at, n int64) func(t *testing.T, member string) {
	return func(t *testing.T, member string) {
		f, err := os.OpenFile(filepath.Join(member, path), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(bytes.Repeat([]byte("garbage!"), int(n/8)), at); err != nil {
			t.Fatal(err)
		}
	}
}

// remove deletes path in member, whatever it holds.
func remove(path string) func(t *testing.T, member string) {
	return func(t *testing.T, member string) {
		if err := os.RemoveAll(filepath.Join(member, path)); err != nil {
			t.Fatal(err)
		}
	}
}

// truncate cuts the file at path in member to size bytes.
func truncate(path string, size int64) func(t *testing.T, member string) {
	return func(t *testing.T, member string) {
		if err := os.Truncate(filepath.Join(member, path), size); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDataDirFaults: an embedded etcd data directory damaged between two
// runs stops Open, within seconds, with an error that names the directory
// and says what to do, rather than hanging, panicking, crashing on a
// memory fault or starting empty.
func TestDataDirFaults(t *testing.T) {
	t.Parallel()
	const db = "snap/db"
	tests := []struct {
		name  string
		fault func(t *testing.T, member string)
		want  []string
		// plain is set for an error that is not ErrDamaged: the data may
		// be whole, and the error says what stops Open from reading it.
		plain bool
		// rootSkips is why the case is moot when the test runs as root.
		rootSkips string
	}{
		{name: "write-ahead log directory deleted", fault: remove("wal"), want: []string{"write-ahead log", "is missing"}},
		{name: "write-ahead log file deleted", fault: func(t *testing.T, member string) {
			file, _ := walFile(t, member)
			remove(strings.TrimPrefix(file, member+"/"))(t, member)
		}, want: []string{"write-ahead log", "is missing"}},
		{name: "write-ahead log zero-length", fault: truncateWAL(0, 0), want: []string{"write-ahead log", "holds no record"}},
		{name: "write-ahead log cut in its first record", fault: truncateWAL(32, 0), want: []string{"write-ahead log", "holds no record"}},
		{name: "write-ahead log cut at a quarter", fault: truncateWAL(1, 4), want: []string{"has applied the log up to entry", "lost entries"}},
		{name: "write-ahead log cut at half", fault: truncateWAL(1, 2), want: []string{"has applied the log up to entry", "lost entries"}},
		{name: "write-ahead log cut at three quarters", fault: truncateWAL(3, 4), want: []string{"has applied the log up to entry", "lost entries"}},
		{name: "write-ahead log overwritten in the middle", fault: func(t *testing.T, member string) {
			file, used := walFile(t, member)
			overwrite(strings.TrimPrefix(file, member+"/"), used/2, 64)(t, member)
		}, want: []string{"write-ahead log"}},
		{name: "database zero-length", fault: truncate(db, 0), want: []string{"database", "is empty"}},
		{name: "database cut to one page", fault: truncate(db, 4096), want: []string{"database", "cannot be opened"}},
		// Past its meta pages, short of its last page: bbolt's memory map
		// faults on the pages that are gone.
		{name: "database cut short", fault: truncate(db, 5*4096), want: []string{"database", "cut short"}},
		{name: "database meta pages overwritten", fault: overwrite(db, 0, 8192), want: []string{"database", "cannot be opened"}},
		// The pages past the meta pages hold the buckets' roots: reading
		// them panics in bbolt.
		{name: "database pages overwritten", fault: overwrite(db, 8192, 16384), want: []string{"database", "cannot be read"}},
		{name: "database deleted", fault: remove(db), want: []string{"database", "is missing"}},
		{name: "snapshot directory deleted", fault: remove("snap"), want: []string{"database", "is missing"}},
		{name: "member deleted", fault: remove(""), want: []string{"member directory", "is gone"}},
		{name: "member replaced by another's", fault: func(t *testing.T, member string) {
			other := t.TempDir()
			if err := open(t, other).Close(); err != nil {
				t.Fatal(err)
			}
			remove("")(t, member)
			if err := os.Rename(filepath.Join(other, "etcd", "member"), member); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"its etcd member is", "that ran here before"}},
		{name: "database unreadable", fault: func(t *testing.T, member string) {
			if err := os.Chmod(filepath.Join(member, db), 0); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"permission denied"}, plain: true, rootSkips: "root reads a file of mode 0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.rootSkips != "" && os.Geteuid() == 0 {
				t.Skipf("SKIPPED: the test runs as root, and %s: run it as another user to cover this case", tt.rootSkips)
			}
			dir := t.TempDir()
			s := open(t, dir)
			for i := range 50 {
				if _, err := s.Queue().SignalOnce(t.Context(), fmt.Sprintf("d-%d", i), time.Hour, "deploy"); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tt.fault(t, filepath.Join(dir, "etcd", "member"))
			err := openBounded(t.Context(), t, Config{DataDir: dir})
			if err == nil {
				t.Fatal("opened a damaged data directory")
			}
			if !tt.plain && !errors.Is(err, ErrDamaged) {
				t.Errorf("not ErrDamaged: %v", err)
			}
			want := append([]string{dir}, tt.want...)
			if !tt.plain {
				want = append(want, "restore the directory from a backup", "move it away to start with empty state")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			t.Log(err)
		})
	}
}

// TestDataDirCutTail: a write-ahead log whose last record is cut short,
// as a crash in the middle of a write leaves it, is no damage: etcd
// drops the record, which it never acknowledged, and starts.
func TestDataDirCutTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Queue().SignalOnce(t.Context(), "d-before-the-crash", time.Hour, "deploy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	member := filepath.Join(dir, "etcd", "member")
	_, used := walFile(t, member)
	truncateWAL(used-4, 0)(t, member)
	if err := openBounded(t.Context(), t, Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirInUse: a second Open of a data directory a running store
// holds says so, rather than waiting for etcd's file lock for good.
func TestDataDirInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	err := openBounded(t.Context(), t, Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want an error that says %s is in use, have %v", dir, err)
	}
}

// TestOpenCancelled: cancelling the context of an Open that waits for a
// data directory another store holds returns at once with the context's
// error.
func TestOpenCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	// lockWait is far longer: the wait is cancelled while it lasts.
	time.AfterFunc(100*time.Millisecond, cancel)
	err := openBounded(ctx, t, Config{DataDir: dir})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want the context's error naming %s, have %v", dir, err)
	}
}
