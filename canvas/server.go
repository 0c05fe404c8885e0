// Package canvas serves the HTTP API that KubeOrch's canvas editor calls,
// on Slipway's git history and live status: a team points the editor it
// knows at Slipway, and every save is a commit, every version a commit,
// every run a deploy through Flux.
//
// The routes are KubeOrch's, under the prefix the editor is configured
// with (/v1/api): the editor's shapes decide every request and answer.
// A route the editor calls that Slipway does not serve answers 404, never
// 401, which would sign the user out.
package canvas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/users"
	"github.com/slipway-gitops/slipway/workflow"
)

// Accounts signs users in and checks their tokens (*users.Store).
type Accounts interface {
	Login(ctx context.Context, email, password string) (users.Session, error)
	Refresh(ctx context.Context, token string) (users.Session, error)
	Authenticate(ctx context.Context, token string) (users.User, error)
}

// Signaler raises a named signal the leading replica's worker acts on
// (*store.Queue): hooks.SignalDeploy deploys the source branch.
type Signaler interface {
	Signal(ctx context.Context, name string) error
}

// Options configure a Server.
type Options struct {
	// Source holds SourceBranch, the workflows the editor edits.
	Source       *gitrepo.Repo
	SourceBranch string
	// Accounts signs users in; nil when only ProxyHeader signs them in.
	Accounts Accounts
	// ProxyHeader names the header, holding the user's email, that an
	// authenticating proxy sets; it is believed only from TrustedProxies.
	ProxyHeader    string
	TrustedProxies []netip.Prefix
	// Origins may call the API from a browser (CORS): the editor's.
	Origins []string
	// Status reads and streams the live status records /api/status and
	// /api/events serve (*hooks.StatusAPI).
	Status StatusSource
	// Signals receives the deploy signal.
	Signals Signaler
	// PullRequests, when set, makes a write a pull request: a save,
	// restore, create or status change of a workflow is a commit on its
	// saves branch (SaveBranch), proposed to SourceBranch by a pull
	// request opened with PullRequests; the source branch changes only
	// when the pull request is merged. When nil, writes commit to
	// SourceBranch.
	PullRequests PullRequests
	// Log receives what the API does not answer with.
	Log *slog.Logger
}

// Server serves the canvas API.
type Server struct {
	opts Options
	log  *slog.Logger
	// loader decodes the source branch's files, remembering them between
	// requests.
	loader source.Loader
	// branches serialises, in pull-request mode, this server's fetches
	// and pushes of the clone: go-git rewrites a ref file in place, and a
	// fetch or push that reads it meanwhile finds it empty.
	branches sync.Mutex
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Source == nil || opts.SourceBranch == "" {
		return nil, errors.New("canvas: the source repository and branch are required")
	}
	if opts.Accounts == nil && opts.ProxyHeader == "" {
		return nil, errors.New("canvas: accounts or a proxy header are required to sign users in")
	}
	if opts.ProxyHeader != "" && len(opts.TrustedProxies) == 0 {
		return nil, errors.New("canvas: a proxy header needs the addresses of the proxies that set it")
	}
	if opts.Status == nil || opts.Signals == nil {
		return nil, errors.New("canvas: the status reader and signals are required")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log}, nil
}

// Register adds the API's routes to r, the router of the editor's API
// prefix. Each route carries its own guard, and the last one answers
// every other request 404: a router-wide guard would answer 401 to the
// routes Slipway does not serve, which signs the editor's user out.
func (s *Server) Register(r fiber.Router) {
	if len(s.opts.Origins) > 0 {
		r.Use(cors.New(cors.Config{
			AllowOrigins: strings.Join(s.opts.Origins, ","),
			AllowHeaders: "Authorization, Content-Type",
			AllowMethods: "GET, POST, PUT, DELETE, OPTIONS",
		}))
	}
	s.registerAuth(r)
	s.registerWorkflows(r)
	s.registerVersions(r)
	s.registerCatalog(r)
	s.registerRun(r)
	r.Use(notServed)
}

// registerAuth adds the routes that sign in.
func (s *Server) registerAuth(r fiber.Router) {
	r.Get("/auth/methods", s.authMethods)
	r.Post("/auth/login", s.login)
	r.Post("/auth/refresh", s.refresh)
	r.Get("/profile", s.requireUser, s.profile)
}

// userKey is the key of the local that holds the signed-in user.
type userKey struct{}

// CurrentUser returns the user requireUser let through.
func CurrentUser(c *fiber.Ctx) (users.User, bool) {
	u, ok := c.Locals(userKey{}).(users.User)
	return u, ok
}

// requireUser lets a request through with a valid bearer token, or the
// proxy header from a trusted proxy, and keeps its user for
// CurrentUser. Without either it answers 401, which the editor takes as
// "sign in again".
func (s *Server) requireUser(c *fiber.Ctx) error {
	if u, ok := s.proxyUser(c); ok {
		c.Locals(userKey{}, u)
		return c.Next()
	}
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || token == "" || s.opts.Accounts == nil {
		return reply(c, http.StatusUnauthorized, "sign in: a bearer token is required")
	}
	u, err := s.opts.Accounts.Authenticate(c.UserContext(), strings.Clone(token))
	switch {
	case errors.Is(err, users.ErrInvalidToken):
		return reply(c, http.StatusUnauthorized, "sign in again: the token is invalid or expired")
	case err != nil:
		return s.fail(c, err)
	}
	c.Locals(userKey{}, u)
	return c.Next()
}

// proxyUser returns the user the proxy header names, when a trusted
// proxy sent it.
func (s *Server) proxyUser(c *fiber.Ctx) (users.User, bool) {
	if s.opts.ProxyHeader == "" {
		return users.User{}, false
	}
	email := strings.TrimSpace(c.Get(s.opts.ProxyHeader))
	if email == "" {
		return users.User{}, false
	}
	peer, err := netip.ParseAddr(c.Context().RemoteIP().String())
	if err != nil {
		return users.User{}, false
	}
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(peer.Unmap()) {
			email = strings.Clone(email)
			name, _, _ := strings.Cut(email, "@")
			return users.User{ID: users.IDOf(email), Email: email, Name: name, Role: "user", AuthProvider: "proxy"}, true
		}
	}
	return users.User{}, false
}

// notServed answers what no route serves: 404, as for an unknown
// resource, so that the editor shows the feature as empty or failed and
// keeps its user signed in.
func notServed(c *fiber.Ctx) error {
	return reply(c, http.StatusNotFound, fmt.Sprintf("%s %s is not served by Slipway", c.Method(), c.Path()))
}

// Reply is the body of an answer that is not a resource: an error, or
// what an action did. KubeOrch's server says "error", its editor reads
// "message": both carry the text.
type Reply struct {
	Error   string `json:"error,omitempty"`
	Message string `json:"message"`
	// Pointer is the JSON pointer, in the request body, of what is wrong.
	Pointer string `json:"pointer,omitempty"`
}

// Problems is the answer to a save that would not deploy: the problems of
// the workflow file, each with its JSON pointer.
type Problems struct {
	Reply
	Problems workflow.Errors `json:"problems"`
}

// reply answers status with a message; an error when status is 400 or
// more.
func reply(c *fiber.Ctx, status int, message string) error {
	r := Reply{Message: message}
	if status >= 400 {
		r.Error = message
	}
	return c.Status(status).JSON(r)
}

// fail answers an error: its status from what it wraps, its text unless
// it is the server's own failure, which is logged instead.
func (s *Server) fail(c *fiber.Ctx, err error) error {
	var be *bodyError
	var pe *problemsError
	switch {
	case errors.As(err, &be):
		return c.Status(be.status).JSON(Reply{Error: be.Error(), Message: be.Error(), Pointer: be.pointer})
	case errors.As(err, &pe):
		return c.Status(http.StatusUnprocessableEntity).JSON(Problems{Reply: Reply{Error: pe.Error(), Message: pe.Error(), Pointer: pe.problems[0].Pointer}, Problems: pe.problems})
	case errors.Is(err, gitrepo.ErrNotFound), errors.Is(err, errNoWorkflow):
		return reply(c, http.StatusNotFound, err.Error())
	case errors.Is(err, gitrepo.ErrConflict), errors.Is(err, gitrepo.ErrDirtyWorktree), errors.Is(err, errStale):
		return reply(c, http.StatusConflict, err.Error())
	case errors.Is(err, gitrepo.ErrUnavailable), errors.Is(err, errPullRequest):
		return reply(c, http.StatusBadGateway, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return reply(c, http.StatusServiceUnavailable, "the request took too long")
	}
	s.log.LogAttrs(c.UserContext(), slog.LevelError, "canvas request failed",
		slog.String("method", c.Method()), slog.String("path", c.Path()), slog.String("error", err.Error()))
	return reply(c, http.StatusInternalServerError, "internal error; the service's log has the details")
}

// Errors the handlers wrap.
var (
	// errNoWorkflow means the id names no workflow of the source branch.
	errNoWorkflow = errors.New("no such workflow")
	// errStale means the workflow changed since the version the editor
	// loaded.
	errStale = errors.New("the workflow changed since it was loaded")
)
