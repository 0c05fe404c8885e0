package hooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts of the HTTP server. Anyone can connect: none of them may hold a
// connection, or the memory of a body, for long.
const (
	// ReadTimeout bounds the time to read a whole request, headers and
	// body. GitHub gives up on a delivery after 10 s, so a slower body is
	// not worth waiting for.
	ReadTimeout = 10 * time.Second
	// WriteTimeout bounds the time to write a response.
	WriteTimeout = 10 * time.Second
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection.
	IdleTimeout = 60 * time.Second
)

// AppConfig configures the fiber application.
type AppConfig struct {
	// Receiver handles webhook deliveries.
	Receiver *Receiver
	// Metrics count refused requests, and are served on /metrics.
	Metrics *Metrics
	// Canvas, when set, serves the API of KubeOrch's canvas editor under
	// CanvasPrefix (*canvas.Server).
	Canvas interface{ Register(r fiber.Router) }
}

// CanvasPrefix is where the canvas editor's API is served: the editor is
// built with NEXT_PUBLIC_API_URL set to the service's URL and this path.
const CanvasPrefix = "/v1/api"

// NewApp returns the fiber application: thin adapters over the Receiver.
// Request bodies are streamed, not buffered by the server, so that the
// Receiver can bound them before it reads them.
func NewApp(cfg AppConfig) (*fiber.App, error) {
	if cfg.Receiver == nil || cfg.Metrics == nil {
		return nil, errors.New("app: a receiver and metrics are required")
	}
	r, m := cfg.Receiver, cfg.Metrics
	app := fiber.New(fiber.Config{
		BodyLimit:         MaxWebhookBody,
		StreamRequestBody: true,
		// No route takes a multipart form: read by the server before any
		// handler, a form would be spooled to disk and held in memory for
		// any client, outside the budgets of bodies in flight.
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  ReadTimeout,
		WriteTimeout:                 WriteTimeout,
		IdleTimeout:                  IdleTimeout,
		DisableStartupMessage:        true,
		// The server's own refusals (a request that timed out before its
		// handler ran, oversized headers) are counted and logged too.
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := http.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				code = fe.Code
			}
			m.Refused.WithLabelValues(strconv.Itoa(code)).Inc()
			r.log.LogAttrs(c.UserContext(), levelOf(code), "request refused",
				slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Int("status", code), slog.String("error", err.Error()))
			return c.Status(code).JSON(Reply{Result: "error", Message: err.Error()})
		},
	})
	// A handler's panic answers its request with a 500 and is logged with
	// its stack; it never takes the process, and every other client, down.
	app.Use(recoverPanics(r.log))
	app.Use(closeUnread)
	// Server-Timing tells GitHub's delivery log, and the load benchmark,
	// how long the service took without the network.
	app.Post("/hooks/github", ServerTiming, func(c *fiber.Ctx) error {
		length := int64(c.Request().Header.ContentLength())
		body := &bodyReader{r: c.Context().RequestBodyStream(), length: length}
		// fiber's strings point into buffers the next request reuses: the
		// Receiver gets copies, as it may keep them (labels, queue keys).
		reply := r.Receive(c.UserContext(), Delivery{
			Event:       strings.Clone(c.Get("X-GitHub-Event")),
			ID:          strings.Clone(c.Get("X-GitHub-Delivery")),
			Signature:   strings.Clone(c.Get("X-Hub-Signature-256")),
			ContentType: strings.Clone(c.Get(fiber.HeaderContentType)),
			Length:      length,
			Body:        body,
		})
		if body.done {
			MarkBodyRead(c)
		}
		return c.Status(reply.Status).JSON(reply)
	})
	if cfg.Canvas != nil {
		cfg.Canvas.Register(app.Group(CanvasPrefix))
	}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(m.Gatherer, promhttp.HandlerOpts{})))
	return app, nil
}

// recoverPanics answers a request whose handler panicked with a 500 that
// says no more than that (the panic's text may hold what the client must
// not read), and logs the panic with its stack.
func recoverPanics(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.LogAttrs(c.UserContext(), slog.LevelError, "handler panicked",
					slog.String("method", c.Method()), slog.String("path", c.Path()),
					slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				err = fiber.NewError(http.StatusInternalServerError, "internal error")
			}
		}()
		return c.Next()
	}
}

// bodyRead is the key of the local that says a handler read its request
// body to the end.
type bodyRead struct{}

// MarkBodyRead tells the app that a handler read its request's body to
// the end, so that the connection may serve the next request.
func MarkBodyRead(c *fiber.Ctx) { c.Locals(bodyRead{}, true) }

// ErrBodyTooLarge is ReadBody's error for a body over its limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ReadBody reads a request's body, streamed or not, to its end and
// marks it read, or up to limit bytes: a longer one is ErrBodyTooLarge,
// whatever its Content-Length said (a chunked body says none).
func ReadBody(c *fiber.Ctx, limit int) ([]byte, error) {
	var r io.Reader = bytes.NewReader(c.Body())
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBodyTooLarge, limit)
	}
	MarkBodyRead(c)
	return data, nil
}

// closeUnread closes the connection after a request whose body was not
// read to the end (refused, or a route that takes none): with streamed
// bodies, the rest would be read as the next request.
func closeUnread(c *fiber.Ctx) error {
	err := c.Next()
	if c.Request().Header.ContentLength() != 0 && c.Locals(bodyRead{}) == nil {
		c.Set(fiber.HeaderConnection, "close")
	}
	return err
}

// bodyReader notes when a body of the announced length (-1: unknown) was
// read to its end.
type bodyReader struct {
	r      io.Reader
	length int64
	read   int64
	done   bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.r == nil {
		b.done = true
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if errors.Is(err, io.EOF) || b.read == b.length {
		b.done = true
	}
	return n, err
}
