package canvas

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/users"
)

// AuthMethods is the answer of GET /auth/methods: how the editor's login
// page offers to sign in.
type AuthMethods struct {
	Builtin   BuiltinAuth `json:"builtin"`
	Providers []struct{}  `json:"providers"`
}

// BuiltinAuth says whether email and password sign in; accounts are made
// by the operator, never by signing up.
type BuiltinAuth struct {
	Enabled       bool `json:"enabled"`
	SignupEnabled bool `json:"signupEnabled"`
}

func (s *Server) authMethods(c *fiber.Ctx) error {
	return c.JSON(AuthMethods{Builtin: BuiltinAuth{Enabled: s.opts.Accounts != nil}, Providers: []struct{}{}})
}

// LoginRequest is the body of POST /auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// maxLoginBody bounds a login's body: an email and a password. Anyone
// may send one, so it is read only this far, not as far as a saved
// workflow (MaxBody): many logins at once must not hold megabytes each.
const maxLoginBody = 16 << 10

// LoginReply is the answer of a login or a refresh: the opaque token the
// editor sends back as a bearer token, and the user it shows.
type LoginReply struct {
	Token     string     `json:"token"`
	ExpiresAt time.Time  `json:"expiresAt"`
	User      users.User `json:"user"`
}

func (s *Server) login(c *fiber.Ctx) error {
	if u, ok := s.proxyUser(c); ok {
		// The proxy signed the user in; the editor still keeps a token,
		// and sends it back beside the proxy's header, which is what
		// counts.
		hooks.MarkBodyRead(c)
		return c.JSON(LoginReply{Token: proxyToken, User: u})
	}
	if s.opts.Accounts == nil {
		return reply(c, http.StatusForbidden, "password login is disabled: sign in through the proxy")
	}
	var req LoginRequest
	if err := readJSONUpTo(c, &req, maxLoginBody); err != nil {
		return s.fail(c, err)
	}
	if req.Email == "" || req.Password == "" {
		return c.Status(http.StatusBadRequest).JSON(Reply{Error: "email and password are required", Message: "email and password are required", Pointer: "/email"})
	}
	sess, err := s.opts.Accounts.Login(c.UserContext(), req.Email, req.Password)
	if errors.Is(err, users.ErrInvalidCredentials) {
		// A failed login is the one 401 the editor shows as it is.
		return reply(c, http.StatusUnauthorized, "invalid email or password")
	}
	if errors.Is(err, users.ErrBusy) {
		c.Set(fiber.HeaderRetryAfter, "1")
		return reply(c, http.StatusServiceUnavailable, "too many logins at once; try again")
	}
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(LoginReply{Token: sess.Token, ExpiresAt: sess.ExpiresAt, User: sess.User})
}

// proxyToken is the token a login through the proxy answers: the editor
// will not show a page without one. It signs no one in without the
// proxy's header.
const proxyToken = "slw_proxy"

// refresh gives a new token for a valid one; the editor asks a day after
// its login.
func (s *Server) refresh(c *fiber.Ctx) error {
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || token == "" || s.opts.Accounts == nil {
		return reply(c, http.StatusUnauthorized, "sign in: a bearer token is required")
	}
	sess, err := s.opts.Accounts.Refresh(c.UserContext(), strings.Clone(token))
	if errors.Is(err, users.ErrInvalidToken) {
		return reply(c, http.StatusUnauthorized, "sign in again: the token is invalid or expired")
	}
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(LoginReply{Token: sess.Token, ExpiresAt: sess.ExpiresAt, User: sess.User})
}

// profile answers the signed-in user.
func (s *Server) profile(c *fiber.Ctx) error {
	u, _ := CurrentUser(c)
	return c.JSON(fiber.Map{"user": u})
}
