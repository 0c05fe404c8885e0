package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStatusRecords(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	put := func(key, value string, want bool) {
		t.Helper()
		wrote, err := s.PutStatus(ctx, key, []byte(value))
		if err != nil || wrote != want {
			t.Fatalf("PutStatus(%s, %s) = %t, %v; want %t", key, value, wrote, err, want)
		}
	}
	t.Run("equal writes cost nothing", func(t *testing.T) {
		put("workflows/shop", `{"health":"Progressing"}`, true)
		put("workflows/shop", `{"health":"Progressing"}`, false)
		put("workflows/blog", `{"health":"Healthy"}`, true)
	})
	recs, rev, err := s.Statuses(ctx, "workflows/")
	if err != nil || len(recs) != 2 || recs[0].Key != "workflows/blog" || recs[1].Key != "workflows/shop" {
		t.Fatalf("Statuses = %+v, %v", recs, err)
	}
	t.Run("watch from a revision sees each later change of a status or build record in order", func(t *testing.T) {
		put("workflows/shop", `{"health":"Healthy"}`, true)
		if _, err := s.CreateBuild(ctx, "b1", []byte(`{"status":"pending"}`)); err != nil {
			t.Fatal(err)
		}
		// A queue key lies between the builds' and the statuses': the
		// watch passes it over.
		if _, _, err := s.Queue().EnqueueOnce(ctx, "d1", time.Hour, "deploy", "k1", map[string]string{}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteStatus(ctx, "workflows/blog"); err != nil {
			t.Fatal(err)
		}
		var got []StatusRecord
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		err := s.WatchStream(wctx, rev, func(r StatusRecord) error {
			got = append(got, r)
			if len(got) == 3 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WatchStream: %v", err)
		}
		if got[0].Key != "status/workflows/shop" || string(got[0].Value) != `{"health":"Healthy"}` || got[0].Revision <= rev ||
			got[1].Key != "builds/b1" || string(got[1].Value) != `{"status":"pending"}` || got[1].Revision <= got[0].Revision ||
			got[2].Key != "status/workflows/blog" || !got[2].Deleted || got[2].Revision <= got[1].Revision+1 {
			t.Errorf("changes = %+v", got)
		}
		recs, at, err := s.StreamRecords(ctx)
		if err != nil || at < got[2].Revision || len(recs) != 2 || recs[0].Key != "status/workflows/shop" || recs[1].Key != "builds/b1" {
			t.Errorf("StreamRecords = %+v at %d, %v", recs, at, err)
		}
	})
	t.Run("one record", func(t *testing.T) {
		r, err := s.Status(ctx, "workflows/shop")
		if err != nil || r == nil || string(r.Value) != `{"health":"Healthy"}` {
			t.Errorf("Status = %+v, %v", r, err)
		}
		if r, err := s.Status(ctx, "workflows/none"); err != nil || r != nil {
			t.Errorf("Status of none = %+v, %v", r, err)
		}
	})
	t.Run("compacted history", func(t *testing.T) {
		put("workflows/shop", `{"health":"Degraded"}`, true)
		_, now, _ := s.Statuses(ctx, "")
		if _, err := s.client.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		err := s.WatchStream(ctx, rev, func(StatusRecord) error { return nil })
		if !errors.Is(err, ErrCompacted) {
			t.Errorf("watch of compacted history: %v, want ErrCompacted", err)
		}
	})
}

// BenchmarkStatusWrites writes status records of 15 KB, each different,
// to 100 workflows' keys, and reports the heap the embedded server still
// holds after them (retained-heap-MB): run it with -benchtime 12000x to
// see that the raft log does not keep thousands of records.
func BenchmarkStatusWrites(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx := b.Context()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	value := []byte(strings.Repeat("x", 15<<10))
	i := 0
	for b.Loop() {
		copy(value, strconv.Itoa(i))
		if _, err := s.PutStatus(ctx, fmt.Sprintf("workflows/w%03d", i%100), value); err != nil {
			b.Fatal(err)
		}
		i++
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "retained-heap-MB")
}

// BenchmarkEnqueueWhileStreamed enqueues jobs with and without a
// WatchStream open: its one watch spans the queue's keys and passes them
// over, and this is what that costs the queue.
func BenchmarkEnqueueWhileStreamed(b *testing.B) {
	for _, watching := range []bool{false, true} {
		b.Run(fmt.Sprintf("watching=%t", watching), func(b *testing.B) {
			s := open(b, b.TempDir())
			defer s.Close()
			ctx := b.Context()
			if watching {
				_, rev, err := s.StreamRecords(ctx)
				if err != nil {
					b.Fatal(err)
				}
				wctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = s.WatchStream(wctx, rev, func(StatusRecord) error { return nil })
				}()
				defer func() { cancel(); <-done }()
			}
			i := 0
			for b.Loop() {
				if _, _, err := s.Queue().EnqueueOnce(ctx, fmt.Sprintf("d%d", i), time.Hour, "deploy", fmt.Sprintf("k%d", i), map[string]string{"ref": "refs/heads/main"}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
