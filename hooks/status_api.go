package hooks

import (
	"bufio"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
)

// ReadAccess says who may read the API and the status page: everyone when
// neither Tokens nor IdentityHeader is set; else a bearer token from
// Tokens, or a request carrying IdentityHeader, which an authenticating
// proxy in front sets (and strips from what clients send).
type ReadAccess struct {
	Tokens         []string
	IdentityHeader string
}

// Open reports whether reading needs no credentials.
func (a ReadAccess) Open() bool { return len(a.Tokens) == 0 && a.IdentityHeader == "" }

// Allows reports whether a request with these headers may read.
func (a ReadAccess) Allows(authorization, identity string) bool {
	if a.Open() {
		return true
	}
	if a.IdentityHeader != "" && strings.TrimSpace(identity) != "" {
		return true
	}
	got, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || got == "" {
		return false
	}
	for _, t := range a.Tokens {
		if subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
			return true
		}
	}
	return false
}

// Middleware guards GET and HEAD requests; other methods keep their own
// checks.
func (a ReadAccess) Middleware(c *fiber.Ctx) error {
	if m := c.Method(); m != fiber.MethodGet && m != fiber.MethodHead {
		return c.Next()
	}
	if a.Allows(c.Get(fiber.HeaderAuthorization), c.Get(a.IdentityHeader)) {
		return c.Next()
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="slipway"`)
	return c.Status(http.StatusUnauthorized).JSON(fiber.Map{"error": "reading needs a bearer token from HOOKS_READ_TOKENS or a login through the proxy"})
}

// ServerTiming sets a Server-Timing header ("app;dur=1.234") with the
// milliseconds the handlers after it took: the server's own work, store
// reads included, without the network or the client. Browsers' developer
// tools show it, and the scale benchmarks read it.
func ServerTiming(c *fiber.Ctx) error {
	began := time.Now()
	err := c.Next()
	c.Set("Server-Timing", "app;dur="+strconv.FormatFloat(float64(time.Since(began))/float64(time.Millisecond), 'f', 3, 64))
	return err
}

// StatusReader reads the status records every replica serves.
type StatusReader interface {
	Statuses(ctx context.Context, keyPrefix string) ([]store.StatusRecord, int64, error)
	Status(ctx context.Context, key string) (*store.StatusRecord, error)
	WatchStatus(ctx context.Context, after int64, fn func(store.StatusRecord) error) error
}

var _ StatusReader = (*store.Store)(nil)

// Overview is everything /api/status returns.
type Overview struct {
	// Revision is the store revision the overview was read at; events
	// after it are what /api/events?after= sends.
	Revision  int64                  `json:"revision"`
	Clusters  []ClusterStatus        `json:"clusters"`
	Workflows []watch.WorkflowStatus `json:"workflows"`
}

// ReadWorkflowStatus reads one workflow's record; nil when there is none.
func ReadWorkflowStatus(ctx context.Context, r StatusReader, name string) (*watch.WorkflowStatus, error) {
	rec, err := r.Status(ctx, statusWorkflows+name)
	if err != nil || rec == nil {
		return nil, err
	}
	var ws watch.WorkflowStatus
	if err := json.Unmarshal(rec.Value, &ws); err != nil {
		return nil, fmt.Errorf("status record %s: %w", rec.Key, err)
	}
	return &ws, nil
}

// StatusAPIConfig configures a StatusAPI.
type StatusAPIConfig struct {
	Reader StatusReader
	Access ReadAccess
	// Heartbeat is how often an idle stream gets a comment line.
	Heartbeat time.Duration
	// Done ends every open stream, so that shutdown does not wait for
	// clients.
	Done <-chan struct{}
}

// StatusAPI serves the status records: the overview, one workflow's
// status, and a stream of changes as Server-Sent Events.
type StatusAPI struct {
	StatusAPIConfig
}

// NewStatusAPI returns a StatusAPI.
func NewStatusAPI(cfg StatusAPIConfig) (*StatusAPI, error) {
	if cfg.Reader == nil || cfg.Heartbeat <= 0 {
		return nil, errors.New("status api: a status reader and a heartbeat are required")
	}
	return &StatusAPI{cfg}, nil
}

// Mount adds the read guard for /api and the status routes. Mount it
// before other /api routes, so that the guard covers their reads too.
func (s *StatusAPI) Mount(app *fiber.App) {
	app.Use("/api", s.Access.Middleware)
	app.Get("/api/status", ServerTiming, s.overview)
	app.Get("/api/workflows/:name/status", ServerTiming, s.workflow)
	app.Get("/api/events", s.events)
}

// overview writes the records as they are stored, in the shape of
// Overview: they were encoded once, by the leader, and need no decoding.
func (s *StatusAPI) overview(c *fiber.Ctx) error {
	recs, rev, err := s.Reader.Statuses(c.UserContext(), "")
	if err != nil {
		return apiError(c, err)
	}
	size := 64
	for _, r := range recs {
		size += len(r.Value) + 1
	}
	buf := make([]byte, 0, size)
	buf = fmt.Appendf(buf, `{"revision":%d`, rev)
	for _, part := range []struct{ name, prefix string }{{"clusters", statusClusters}, {"workflows", statusWorkflows}} {
		buf = fmt.Appendf(buf, `,%q:[`, part.name)
		n := 0
		for _, r := range recs {
			if strings.HasPrefix(r.Key, part.prefix) && json.Valid(r.Value) {
				if n > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, r.Value...)
				n++
			}
		}
		buf = append(buf, ']')
	}
	buf = append(buf, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(buf)
}

func (s *StatusAPI) workflow(c *fiber.Ctx) error {
	ws, err := ReadWorkflowStatus(c.UserContext(), s.Reader, c.Params("name"))
	if err != nil {
		return apiError(c, err)
	}
	if ws == nil {
		return c.Status(http.StatusNotFound).JSON(fiber.Map{"error": "no status for workflow " + c.Params("name") + " yet"})
	}
	return c.JSON(ws)
}

// events streams status changes. Each event's id is the store revision of
// the change: a client resuming with Last-Event-ID (or ?after=) gets every
// change after it; when that history is compacted, it gets the current
// record of every workflow and cluster instead, so the latest state of a
// workflow is never lost. Without either, the stream starts with the
// current records.
func (s *StatusAPI) events(c *fiber.Ctx) error {
	after := int64(-1)
	for _, v := range []string{c.Get("Last-Event-ID"), c.Query("after")} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			after = n
			break
		}
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	// The server's WriteTimeout bounds a whole response, and a stream's
	// would end after it: each write gets it anew instead, so that a
	// stream lasts while every write must still finish in time (a client
	// that stops reading is cut off).
	conn := c.Context().Conn()
	renew := func() {
		if conn != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		}
	}
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.Done:
			case <-ctx.Done():
			}
			cancel()
		}()
		s.stream(ctx, w, renew, after)
	})
	return nil
}

// stream writes events until ctx ends or the client goes away; renew is
// called before each write.
func (s *StatusAPI) stream(ctx context.Context, w *bufio.Writer, renew func(), after int64) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan store.StatusRecord, 64)
	go func() {
		defer close(recs)
		for ctx.Err() == nil {
			if after < 0 {
				cur, rev, err := s.Reader.Statuses(ctx, "")
				if err != nil {
					return
				}
				// In the order of their writes, each with its own
				// revision: a client cut off midway resumes where it was.
				slices.SortFunc(cur, func(a, b store.StatusRecord) int { return cmp.Compare(a.Revision, b.Revision) })
				for _, r := range cur {
					select {
					case recs <- r:
					case <-ctx.Done():
						return
					}
				}
				after = rev
			}
			err := s.Reader.WatchStatus(ctx, after, func(r store.StatusRecord) error {
				select {
				case recs <- r:
					after = r.Revision
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if !errors.Is(err, store.ErrCompacted) {
				return
			}
			after = -1
		}
	}()
	// send writes and flushes what write writes.
	send := func(write func() error) bool {
		renew()
		return write() == nil && w.Flush() == nil
	}
	writeString := func(s string) func() error {
		return func() error { _, err := w.WriteString(s); return err }
	}
	if !send(writeString("retry: 2000\n\n")) {
		return
	}
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if !send(writeString(": heartbeat\n\n")) {
				return
			}
		case r, ok := <-recs:
			if !ok {
				return
			}
			// Send what is queued together, then flush once.
			sent := send(func() error {
				err := writeEvent(w, r)
				for n := len(recs); n > 0 && err == nil; n-- {
					err = writeEvent(w, <-recs)
				}
				return err
			})
			if !sent {
				return
			}
		}
	}
}

// writeEvent writes one record as an event: "workflow" or "cluster", or
// "deleted" with the key.
func writeEvent(w *bufio.Writer, r store.StatusRecord) error {
	kind, data := "", r.Value
	switch {
	case r.Deleted:
		kind, data = "deleted", mustJSON(map[string]string{"key": r.Key})
	case strings.HasPrefix(r.Key, statusWorkflows):
		kind = "workflow"
	case strings.HasPrefix(r.Key, statusClusters):
		kind = "cluster"
	default:
		return nil
	}
	_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", r.Revision, kind, data)
	return err
}
