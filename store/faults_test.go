package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// TestDataDirFaults: an embedded etcd data directory damaged between two
// runs stops Open with an error that names the directory and says what to
// do, rather than hanging, panicking or starting empty.
func TestDataDirFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(t *testing.T, member string)
		want  []string
		// logged is what etcd's own log says, through slog.
		logged string
	}{
		{"write-ahead log deleted", func(t *testing.T, member string) {
			if err := os.RemoveAll(filepath.Join(member, "wal")); err != nil {
				t.Fatal(err)
			}
		}, []string{"write-ahead log", "backup"}, ""},
		{"database corrupted", func(t *testing.T, member string) {
			db := filepath.Join(member, "snap", "db")
			f, err := os.OpenFile(db, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Garbage over the meta pages and the first data pages.
			if _, err := f.WriteAt([]byte(strings.Repeat("garbage!", 4096)), 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"failed to open database", "backup"}, `"level":"ERROR","msg":"etcd: failed to open database"`},
		{"member deleted", func(t *testing.T, member string) {
			if err := os.RemoveAll(member); err != nil {
				t.Fatal(err)
			}
		}, []string{"member directory", "is gone", "backup"}, ""},
		{"member replaced by another's", func(t *testing.T, member string) {
			other := t.TempDir()
			if err := open(t, other).Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(member); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(other, "etcd", "member"), member); err != nil {
				t.Fatal(err)
			}
		}, []string{"its etcd member is", "that ran here before"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := open(t, dir)
			if _, err := s.Queue().SignalOnce(t.Context(), "d-before-the-fault", time.Hour, "deploy"); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tt.fault(t, filepath.Join(dir, "etcd", "member"))
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var logs testutil.Buffer
			s, err := Open(ctx, Config{DataDir: dir, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err == nil {
				s.Close()
				t.Fatal("opened a damaged data directory")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Errorf("not ErrDamaged: %v", err)
			}
			for _, w := range append(tt.want, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("etcd's log lacks %s:\n%s", tt.logged, logs.String())
			}
			t.Log(err)
		})
	}
}
