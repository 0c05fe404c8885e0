package hooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipway-gitops/slipway/store"
)

// defaultBacklog is how many bytes of recent events the hub keeps for
// streams that resume or fall behind a little: a few hundred records.
const defaultBacklog = 4 << 20

// hubRetry is the pause before the hub reads or watches the records
// again after etcd failed it.
const hubRetry = time.Second

// frame is one change of a status or build record encoded once as a
// Server-Sent Event, and written as is to every stream of /api/events.
// Key and value are the record's (the key as the deleted event names it;
// value a part of data, nil once deleted), for streams that send events
// of their own.
type frame struct {
	rev   int64
	data  []byte
	key   string
	value []byte
}

// eventHub keeps one watch of the status and build records for every
// stream of a replica: it reads the records once, follows their changes, and keeps
// the current record of each key and the recent changes as frames that
// streams share. A stream holds no copy of its own; it follows the hub
// by revision.
type eventHub struct {
	reader  StatusReader
	backlog int

	mu    sync.Mutex
	ready bool
	// rev is the revision the hub has seen everything up to.
	rev int64
	// current is the latest frame of each record; byRev is the same in
	// revision order, built when a stream asks for it (nil: stale).
	current map[string]frame
	byRev   []frame
	// events are the frames of every change after floor, oldest first,
	// at most backlog bytes of them (size).
	events []frame
	floor  int64
	size   int
	// wake is closed, and replaced, when there is news.
	wake chan struct{}
}

func newEventHub(reader StatusReader, backlog int) *eventHub {
	return &eventHub{reader: reader, backlog: backlog, wake: make(chan struct{})}
}

// run follows the records until ctx ends: one read, then one watch from
// the revision of that read, read again when etcd no longer has the
// history the watch resumes from.
func (h *eventHub) run(ctx context.Context) {
	after := int64(-1)
	for ctx.Err() == nil {
		if after < 0 {
			recs, rev, err := h.reader.StreamRecords(ctx)
			if err != nil {
				sleep(ctx, hubRetry)
				continue
			}
			h.reset(recs, rev)
			after = rev
		}
		err := h.reader.WatchStream(ctx, after, func(r store.StatusRecord) error {
			h.add(r)
			after = r.Revision
			return nil
		})
		if errors.Is(err, store.ErrCompacted) {
			after = -1
			continue
		}
		// etcd ended the watch (no leader, a lost connection): resume
		// where it was.
		sleep(ctx, hubRetry)
	}
}

// reset replaces what the hub holds with records read at rev. Streams
// that followed the hub before are behind it now: the changes between
// are unknown.
func (h *eventHub) reset(recs []store.StatusRecord, rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.current = make(map[string]frame, len(recs))
	for _, r := range recs {
		if f, ok := encodeFrame(r); ok {
			h.current[r.Key] = f
		}
	}
	h.ready, h.rev, h.floor, h.events, h.size, h.byRev = true, rev, rev, nil, 0, nil
	h.notify()
}

// add records one change.
func (h *eventHub) add(r store.StatusRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = max(h.rev, r.Revision)
	f, ok := encodeFrame(r)
	if !ok {
		return
	}
	if r.Deleted {
		delete(h.current, r.Key)
	} else {
		h.current[r.Key] = f
	}
	h.byRev = nil
	h.events = append(h.events, f)
	h.size += len(f.data)
	// The oldest changes go; streams resuming from before them get the
	// current records instead. Frames already handed out stay valid: the
	// slice is only ever cut at its front and appended to.
	for h.size > h.backlog && len(h.events) > 1 {
		h.floor = h.events[0].rev
		h.size -= len(h.events[0].data)
		h.events = h.events[1:]
	}
	h.notify()
}

func (h *eventHub) notify() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// errBehind says a stream fell so far behind that the changes it has yet
// to send are no longer kept.
var errBehind = errors.New("the stream fell behind the changes kept for it")

// catchUp is what a stream has yet to send.
type catchUp struct {
	frames []frame
	// upTo is the revision the stream has sent everything up to once it
	// sent frames.
	upTo int64
	// wake is closed when there is more.
	wake <-chan struct{}
	// served says the hub had read the records: the stream follows it
	// from upTo on.
	served bool
}

// since returns what a stream has yet to send, having sent everything up
// to revision after.
//
// A stream that starts (start) after a revision whose changes are no
// longer kept, after none (-1), or after one the hub has not reached (an
// id from another etcd, or made up), gets the current records instead,
// in the order of their writes: a client cut off midway resumes where it
// was, and no client waits for changes past a revision the store may
// take long to reach. A stream that follows the hub and is behind that far gets
// errBehind. Until the hub has read the records, there is nothing yet.
func (h *eventHub) since(after int64, start bool) (catchUp, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.ready:
		return catchUp{upTo: after, wake: h.wake}, nil
	case after >= h.floor && (after <= h.rev || !start):
		i := sort.Search(len(h.events), func(i int) bool { return h.events[i].rev > after })
		return catchUp{frames: slices.Clip(h.events[i:]), upTo: max(after, h.rev), wake: h.wake, served: true}, nil
	case !start:
		return catchUp{}, errBehind
	}
	if h.byRev == nil {
		h.byRev = make([]frame, 0, len(h.current))
		for _, f := range h.current {
			h.byRev = append(h.byRev, f)
		}
		slices.SortFunc(h.byRev, func(a, b frame) int { return cmp.Compare(a.rev, b.rev) })
	}
	return catchUp{frames: h.byRev, upTo: h.rev, wake: h.wake, served: true}, nil
}

// encodeFrame encodes a record, keyed as store.StreamRecords keys it, as
// an event: "workflow", "cluster" or "build", or "deleted" with the key
// ("workflows/shop", "builds/<id>"); other records are not streamed.
func encodeFrame(r store.StatusRecord) (frame, bool) {
	key, status := strings.CutPrefix(r.Key, store.StreamStatus)
	kind, data := "", r.Value
	switch {
	case status && strings.HasPrefix(key, statusWorkflows):
		kind = "workflow"
	case status && strings.HasPrefix(key, statusClusters):
		kind = "cluster"
	case !status && strings.HasPrefix(key, store.StreamBuilds):
		kind = "build"
	default:
		return frame{}, false
	}
	if r.Deleted {
		kind, data = "deleted", mustJSON(map[string]string{"key": key})
	}
	f := frame{rev: r.Revision, key: key}
	f.data = fmt.Appendf(nil, "id: %d\nevent: %s\ndata: ", r.Revision, kind)
	start, end := len(f.data), len(f.data)+len(data)
	f.data = append(append(f.data, data...), "\n\n"...)
	if !r.Deleted {
		f.value = f.data[start:end:end]
	}
	return f, true
}
