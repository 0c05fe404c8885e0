package hooks

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewApp returns the fiber application: thin adapters over the Receiver.
func NewApp(r *Receiver, m *Metrics) *fiber.App {
	app := fiber.New(fiber.Config{
		BodyLimit:             MaxWebhookBody,
		DisableStartupMessage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := http.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				code = fe.Code
			}
			return c.Status(code).JSON(Reply{Result: "error", Message: err.Error()})
		},
	})
	app.Post("/hooks/github", func(c *fiber.Ctx) error {
		// fiber's strings point into buffers the next request reuses: the
		// Receiver gets copies, as it may keep them (labels, queue keys).
		reply := r.Receive(c.UserContext(), Delivery{
			Event:       strings.Clone(c.Get("X-GitHub-Event")),
			ID:          strings.Clone(c.Get("X-GitHub-Delivery")),
			Signature:   strings.Clone(c.Get("X-Hub-Signature-256")),
			ContentType: strings.Clone(c.Get(fiber.HeaderContentType)),
			Body:        c.Body(),
		})
		return c.Status(reply.Status).JSON(reply)
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})))
	return app
}
