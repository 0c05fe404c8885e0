package hooks

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// WorkflowStatus returns a workflow's record; nil when there is none.
func (s *StatusAPI) WorkflowStatus(ctx context.Context, name string) (*watch.WorkflowStatus, error) {
	return ReadWorkflowStatus(ctx, s.Reader, name)
}

// StatusAPIConfig configures a StatusAPI.
type StatusAPIConfig struct {
	Reader StatusReader
	Access ReadAccess
	// Heartbeat is how often an idle stream gets a comment line.
	Heartbeat time.Duration
	// Done ends every open stream, so that shutdown does not wait for
	// clients, and the watch the streams share.
	Done <-chan struct{}
	// Events bounds the streams; zero fields take the defaults.
	Events EventsConfig
	// WriteTimeout bounds each write to a stream (WriteTimeout when
	// zero): a client that reads slower, or not at all while there is
	// news, is cut off.
	WriteTimeout time.Duration
	// Backlog is how many bytes of recent changes are kept for streams
	// that resume or fall behind (4 MiB when zero).
	Backlog int
}

// StatusAPI serves the status records: the overview, one workflow's
// status, and a stream of changes as Server-Sent Events. The streams
// share one watch of the records, and are bounded in number, in all and
// per client address. Its metrics count them.
type StatusAPI struct {
	StatusAPIConfig
	hub     *eventHub
	limits  *streamLimits
	metrics streamMetrics
}

// NewStatusAPI returns a StatusAPI, which follows the records for the
// streams until Done.
func NewStatusAPI(cfg StatusAPIConfig) (*StatusAPI, error) {
	if cfg.Reader == nil || cfg.Heartbeat <= 0 {
		return nil, errors.New("status api: a status reader and a heartbeat are required")
	}
	cfg.Events = cfg.Events.withDefaults()
	if err := errors.Join(cfg.Events.validate()...); err != nil {
		return nil, fmt.Errorf("status api: %w", err)
	}
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, WriteTimeout)
	cfg.Backlog = cmp.Or(cfg.Backlog, defaultBacklog)
	s := &StatusAPI{StatusAPIConfig: cfg, hub: newEventHub(cfg.Reader, cfg.Backlog), limits: newStreamLimits(cfg.Events)}
	s.metrics = newStreamMetrics(s.limits.held)
	s.runHub()
	return s, nil
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
