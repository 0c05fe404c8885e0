package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/store"
)

// JobBuildPush starts the builds of the nodes that build from a pushed
// repository and branch; its payload is a build.Push.
const JobBuildPush store.JobKind = "build-push"

// Builds is what the API and the worker need of the builds
// (*build.Service).
type Builds interface {
	Start(ctx context.Context, req build.Request) (*build.Record, bool, error)
	Pushed(ctx context.Context, p build.Push) ([]*build.Record, error)
	Get(ctx context.Context, id string) (*build.Record, int64, error)
	List(ctx context.Context) ([]*build.Record, error)
	Cancel(ctx context.Context, id, reason string) (*build.Record, bool, error)
	ScanImages(ctx context.Context) ([]string, error)
}

var _ Builds = (*build.Service)(nil)

// BuildList is the answer of GET /api/builds.
type BuildList struct {
	// Builds are newest first.
	Builds []*build.Record `json:"builds"`
}

// MountBuilds adds the build routes to an app: reads for anyone who may
// read the API; starts, cancels and image policy scans (a registry's
// webhook) for callers with a token.
func (a *API) MountBuilds(app *fiber.App, b Builds) {
	h := buildRoutes{b}
	app.Get("/api/builds", h.list)
	app.Get("/api/builds/:id", h.get)
	app.Post("/api/builds", a.authorized, h.start)
	app.Delete("/api/builds/:id", a.authorized, h.cancel)
	app.Post("/api/images/scan", a.authorized, h.scan)
}

type buildRoutes struct{ builds Builds }

func (h buildRoutes) list(c *fiber.Ctx) error {
	all, err := h.builds.List(c.UserContext())
	if err != nil {
		return buildError(c, err)
	}
	return c.JSON(BuildList{Builds: all})
}

func (h buildRoutes) get(c *fiber.Ctx) error {
	r, _, err := h.builds.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return buildError(c, err)
	}
	return c.JSON(r)
}

// maxBuildRequest bounds the body of POST /api/builds.
const maxBuildRequest = 4 << 10

// start starts a build of a node at a commit: 201 with the new build, or
// 200 with the one that exists for that node and commit.
func (h buildRoutes) start(c *fiber.Ctx) error {
	if c.Request().Header.ContentLength() > maxBuildRequest {
		return c.Status(http.StatusRequestEntityTooLarge).JSON(fiber.Map{"error": fmt.Sprintf("a build request is at most %d bytes", maxBuildRequest)})
	}
	body, err := ReadBody(c, maxBuildRequest)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return c.Status(http.StatusRequestEntityTooLarge).JSON(fiber.Map{"error": fmt.Sprintf("a build request is at most %d bytes", maxBuildRequest)})
	case err != nil:
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
	}
	var req build.Request
	if err := json.Unmarshal(body, &req); err != nil {
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"error": "the body must be {\"workflow\", \"node\", \"commit\"}: " + err.Error()})
	}
	r, created, err := h.builds.Start(c.UserContext(), req)
	if err != nil {
		return buildError(c, err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.Status(status).JSON(r)
}

func (h buildRoutes) cancel(c *fiber.Ctx) error {
	r, cancelled, err := h.builds.Cancel(c.UserContext(), c.Params("id"), "cancelled through the API")
	if err != nil {
		return buildError(c, err)
	}
	if !cancelled {
		return c.Status(http.StatusConflict).JSON(fiber.Map{"error": fmt.Sprintf("build %s ended %s already", r.ID, r.Status), "build": r})
	}
	return c.JSON(r)
}

// ScanReply is the answer of POST /api/images/scan.
type ScanReply struct {
	// Commits are the image policies' write-backs.
	Commits []string `json:"commits"`
	// Error says which policies could not be followed.
	Error string `json:"error,omitempty"`
}

// scan follows the image policies now, as a registry's webhook asks.
func (h buildRoutes) scan(c *fiber.Ctx) error {
	commits, err := h.builds.ScanImages(c.UserContext())
	if err != nil && len(commits) == 0 {
		return apiError(c, err)
	}
	reply := ScanReply{Commits: append([]string{}, commits...)}
	if err != nil {
		reply.Error = err.Error()
	}
	return c.JSON(reply)
}

// buildError maps the builds' errors to statuses.
func buildError(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, build.ErrNotFound):
		return c.Status(http.StatusNotFound).JSON(fiber.Map{"error": err.Error()})
	case errors.Is(err, build.ErrNotBuildable):
		return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": err.Error()})
	}
	return apiError(c, err)
}

// buildJobs runs build-push jobs.
type buildJobs struct{ builds Builds }

// Run starts the builds a push asks for.
func (h buildJobs) Run(ctx context.Context, payload json.RawMessage) error {
	if h.builds == nil {
		return permanent{errors.New("builds are off: set HOOKS_BUILD_REGISTRY")}
	}
	var p build.Push
	if err := json.Unmarshal(payload, &p); err != nil {
		return permanent{fmt.Errorf("build-push job: %w", err)}
	}
	_, err := h.builds.Pushed(ctx, p)
	return err
}

// Failed has nothing to report: the push's builds were not recorded.
func (buildJobs) Failed(context.Context, json.RawMessage, string) error { return nil }

// queueBuilds queues, when builds are on, a job that starts the builds a
// push asks for, and returns the reply for it: zero when no job was
// due (builds off, a deleted branch, a tag). The job's key is the
// repository, branch and commit, and its delivery id the delivery's with
// "/build", apart from the deploy signal's.
func (r *Receiver) queueBuilds(ctx context.Context, delivery string, e *event) (Reply, error) {
	branch, ok := strings.CutPrefix(e.Ref, "refs/heads/")
	if !r.builds || !ok || e.Deleted || !isCommit(e.After) {
		return Reply{}, nil
	}
	p := build.Push{URLs: []string{e.Repository.CloneURL, e.Repository.HTMLURL, e.Repository.SSHURL}, Branch: branch, Commit: e.After}
	key := fmt.Sprintf("build:%s:%s:%s", e.Repository.FullName, branch, e.After)
	j, queued, err := r.queue.EnqueueOnce(ctx, delivery+"/build", DeliveryTTL, JobBuildPush, key, p)
	switch {
	case err != nil:
		return Reply{}, err
	case !queued:
		return Reply{Status: http.StatusOK, Result: "duplicate", Message: "delivery " + delivery + " was handled before"}, nil
	}
	return Reply{Status: http.StatusAccepted, Result: "queued", Message: "builds requested", Job: j.ID}, nil
}
