package hooks

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// APIConfig configures an API.
type APIConfig struct {
	// Source holds SourceBranch, the workflows; Target holds
	// DeployBranch, the deploys.
	Source       *gitrepo.Repo
	Target       *gitrepo.Repo
	SourceBranch string
	DeployBranch string
	// Tokens may call the write API (bearer tokens).
	Tokens []string
	// Signals receives the deploy signal after a restore (*store.Queue).
	Signals interface {
		Signal(ctx context.Context, name string) error
	}
	// Ready, when set, checks the service's dependencies for /readyz.
	Ready func(ctx context.Context) error
	// Deploys, when set, reports the deploy branch's convergence in
	// /readyz's detail.
	Deploys func() DeployStatus
	// Access says who may read /readyz's detail, the deploy status and
	// why the service is not ready, as it says who may read /api: a probe
	// without credentials is told only whether the service is ready.
	Access ReadAccess
	// Author signs restore commits.
	Author gitrepo.Signature
	// CheckTTL is how long one fetch of the deploy repository, and one
	// readiness check, answer the requests that come after them (default
	// DefaultCheckTTL): reads need no token, and must not make the service
	// call its remotes once per request.
	CheckTTL time.Duration
}

// DefaultCheckTTL is how long a fetch for /api/deploys, or a readiness
// check, answers the requests after it.
const DefaultCheckTTL = 2 * time.Second

// API serves workflows, versions, comparisons and deploy history, and
// restores versions for callers with a token.
type API struct {
	cfg APIConfig
	// loader decodes the source branch's files, remembering them between
	// requests.
	loader source.Loader
	// fetchDeploys fetches the deploy repository for /api/deploys, and
	// ready checks the service for /readyz, each at most once per
	// CheckTTL.
	fetchDeploys, ready *sharedCheck
}

// NewAPI returns an API.
func NewAPI(cfg APIConfig) (*API, error) {
	if cfg.Source == nil || cfg.Target == nil || cfg.SourceBranch == "" || cfg.DeployBranch == "" {
		return nil, errors.New("api: the source and deploy repositories and branches are required")
	}
	if cfg.CheckTTL < 0 {
		return nil, errors.New("api: the check TTL must not be negative")
	}
	ttl := cmp.Or(cfg.CheckTTL, DefaultCheckTTL)
	a := &API{cfg: cfg, fetchDeploys: newSharedCheck(ttl, cfg.Target.Fetch)}
	if cfg.Ready != nil {
		a.ready = newSharedCheck(ttl, cfg.Ready)
	}
	return a, nil
}

// WorkflowSummary describes one workflow of the source branch.
type WorkflowSummary struct {
	Name      string          `json:"name"`
	Status    workflow.Status `json:"status,omitempty"`
	Cluster   string          `json:"cluster,omitempty"`
	Namespace string          `json:"namespace,omitempty"`
	Nodes     int             `json:"nodes"`
	// Problems are the file's validation errors, if any.
	Problems workflow.Errors `json:"problems,omitempty"`
	// Warnings are problems that do not stop the workflow: a draft's,
	// whether or not its file decodes.
	Warnings workflow.Errors `json:"warnings,omitempty"`
}

// WorkflowList is the answer of GET /api/workflows.
type WorkflowList struct {
	// Commit is the source branch's head that was read.
	Commit string `json:"commit"`
	// Workflows describes every workflow file, valid or not, by name.
	Workflows []WorkflowSummary `json:"workflows"`
	// Problems are those of the repository's other files: its clusters.
	Problems workflow.Errors `json:"problems,omitempty"`
}

// Mount adds the API's routes to an app.
func (a *API) Mount(app *fiber.App) {
	app.Get("/readyz", a.readyz)
	app.Get("/api/workflows", a.workflows)
	app.Get("/api/workflows/:name/versions", a.versions)
	app.Get("/api/workflows/:name/versions/compare", a.compare)
	app.Get("/api/deploys", a.deploys)
	app.Post("/api/workflows/:name/versions/:v/restore", a.authorized, a.restore)
}

func (a *API) readyz(c *fiber.Ctx) error {
	reader := a.cfg.Access.Allows(c.Get(fiber.HeaderAuthorization), c.Get(a.cfg.Access.IdentityHeader))
	detail := fiber.Map{"ready": true}
	if a.cfg.Deploys != nil && reader {
		detail["deploy"] = a.cfg.Deploys()
	}
	if a.ready == nil {
		return c.JSON(detail)
	}
	if err := a.ready.run(c.UserContext()); err != nil {
		detail["ready"] = false
		if reader {
			detail["error"] = err.Error()
		}
		return c.Status(http.StatusServiceUnavailable).JSON(detail)
	}
	return c.JSON(detail)
}

func (a *API) workflows(c *fiber.Ctx) error {
	head, err := a.sourceHead()
	if err != nil {
		return apiError(c, err)
	}
	src, err := a.cfg.Source.Source(head)
	if err != nil {
		return apiError(c, err)
	}
	repo, err := a.loader.Load(c.UserContext(), src)
	if err != nil {
		return apiError(c, err)
	}
	// Problems by file: a workflow's own, or the repository-wide checks'
	// (those resolve each workflow's cluster).
	byFile := map[string]workflow.Errors{}
	for _, e := range repo.Problems() {
		byFile[e.File] = append(byFile[e.File], e)
	}
	out := []WorkflowSummary{}
	for _, wf := range repo.Workflows {
		out = append(out, WorkflowSummary{Name: wf.Name, Status: wf.Status, Cluster: wf.Cluster(), Namespace: wf.TargetNamespace(), Nodes: len(wf.Nodes), Problems: byFile[workflow.WorkflowFile(wf.Name)], Warnings: wf.Warnings})
	}
	// A draft whose file does not decode is listed with its problems as
	// warnings: it never stops the others.
	for _, p := range slices.Sorted(maps.Keys(repo.Drafts)) {
		out = append(out, WorkflowSummary{Name: strings.TrimSuffix(path.Base(p), ".json"), Status: workflow.StatusDraft, Warnings: repo.Drafts[p]})
	}
	// The problems of a file that is no valid workflow: an invalid
	// workflow's, or a cluster file's.
	var others workflow.Errors
	for _, p := range slices.Sorted(maps.Keys(byFile)) {
		switch {
		case !workflow.IsWorkflowFile(p):
			others = append(others, byFile[p]...)
		case repo.Invalid[p] != nil:
			out = append(out, WorkflowSummary{Name: strings.TrimSuffix(path.Base(p), ".json"), Problems: byFile[p]})
		}
	}
	slices.SortFunc(out, func(a, b WorkflowSummary) int { return strings.Compare(a.Name, b.Name) })
	return c.JSON(WorkflowList{Commit: head.Hash.String(), Workflows: out, Problems: others})
}

func (a *API) versions(c *fiber.Ctx) error {
	head, err := a.sourceHead()
	if err != nil {
		return apiError(c, err)
	}
	vs, err := a.cfg.Source.Versions(c.UserContext(), head.Hash.String(), workflowName(c))
	if err != nil {
		return apiError(c, err)
	}
	return c.JSON(vs)
}

func (a *API) compare(c *fiber.Ctx) error {
	v1, err1 := strconv.Atoi(c.Query("v1"))
	v2, err2 := strconv.Atoi(c.Query("v2"))
	if err1 != nil || err2 != nil {
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"error": "v1 and v2 must be version numbers"})
	}
	head, err := a.sourceHead()
	if err != nil {
		return apiError(c, err)
	}
	d, err := a.cfg.Source.Compare(c.UserContext(), head.Hash.String(), workflowName(c), v1, v2)
	if err != nil {
		return apiError(c, err)
	}
	return c.JSON(d) // workflow.Diff has redacted its secret values
}

func (a *API) deploys(c *fiber.Ctx) error {
	limit := c.QueryInt("limit", 50)
	if err := a.cfg.Target.Check(); err != nil {
		return apiError(c, err)
	}
	if err := a.fetchDeploys.run(c.UserContext()); err != nil {
		return apiError(c, err)
	}
	h, err := a.cfg.Target.History(a.cfg.DeployBranch, min(max(limit, 1), 1000))
	if err != nil {
		return apiError(c, err)
	}
	if h == nil {
		h = []gitrepo.DeployRecord{} // no deploy yet
	}
	return c.JSON(h)
}

// authorized lets a request through only with a bearer token from
// HOOKS_API_TOKENS, compared in constant time.
func (a *API) authorized(c *fiber.Ctx) error {
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if ok && got != "" {
		for _, t := range a.cfg.Tokens {
			if subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
				return c.Next()
			}
		}
	}
	return c.Status(http.StatusUnauthorized).JSON(fiber.Map{"error": "a bearer token from HOOKS_API_TOKENS is required"})
}

func (a *API) restore(c *fiber.Ctx) error {
	v, err := strconv.Atoi(c.Params("v"))
	if err != nil || v < 1 {
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"error": "the version must be a number from 1"})
	}
	name := workflowName(c)
	ctx, cancel := context.WithTimeout(c.UserContext(), restoreTimeout)
	defer cancel()
	commit, err := a.cfg.Source.Restore(ctx, a.cfg.SourceBranch, name, v, a.cfg.Author)
	if err != nil {
		return apiError(c, err)
	}
	if err := a.cfg.Signals.Signal(ctx, SignalDeploy); err != nil {
		return apiError(c, err)
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"commit": commit.Hash.String(), "message": strings.TrimSpace(commit.Message)})
}

// workflowName returns the :name parameter, copied: fiber's strings
// point into a buffer the next request reuses, and the repository may keep
// what it is given (errors, commit messages).
func workflowName(c *fiber.Ctx) string { return strings.Clone(c.Params("name")) }

// errNoSourceBranch means the source repository lacks the branch the
// service is configured with.
var errNoSourceBranch = errors.New("the source branch is missing")

// sourceHead returns the head of the source branch. A repository that is
// gone, or lacks the branch, is the service's upstream failing, not a
// workflow that does not exist.
func (a *API) sourceHead() (*object.Commit, error) {
	if err := a.cfg.Source.Check(); err != nil {
		return nil, err
	}
	head, err := a.cfg.Source.Resolve(a.cfg.SourceBranch)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errNoSourceBranch, a.cfg.SourceBranch, err)
	}
	return head, nil
}

// apiError maps errors to statuses.
func apiError(c *fiber.Ctx, err error) error {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, gitrepo.ErrUnavailable), errors.Is(err, errNoSourceBranch):
		status = http.StatusBadGateway
	case errors.Is(err, gitrepo.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, gitrepo.ErrUnchanged):
		status = http.StatusConflict
	case errors.Is(err, gitrepo.ErrConflict), errors.Is(err, gitrepo.ErrDirtyWorktree):
		status = http.StatusConflict
	}
	// Files the source branch cannot be read with (a link, a file past
	// the size bounds) are the repository's problems, each at its file.
	if problems := (workflow.Errors)(nil); errors.As(err, &problems) {
		return c.Status(http.StatusUnprocessableEntity).JSON(fiber.Map{"error": "the source branch's files cannot be read", "problems": problems})
	}
	return c.Status(status).JSON(fiber.Map{"error": err.Error()})
}

// restoreTimeout bounds a restore: its fetch, commit and push.
const restoreTimeout = time.Minute

// checkTimeout bounds a shared check: no request waits longer for it than
// the server takes to write an answer.
const checkTimeout = WriteTimeout

// sharedCheck runs a check (a fetch, a readiness probe) for many requests
// at most once per ttl: callers that come while it runs wait for that run,
// and its result, a failure too, answers those that come within ttl of its
// end (of its end, so that a slow remote is not asked again by each caller
// that waited). The run is bounded by checkTimeout and not cut short when
// the caller that started it goes away, since others wait for it.
type sharedCheck struct {
	check func(ctx context.Context) error
	ttl   time.Duration
	// sem is held by the caller that runs the check or reads its result;
	// it guards at, when the last run ended, and err, its result.
	sem chan struct{}
	at  time.Time
	err error
}

func newSharedCheck(ttl time.Duration, check func(ctx context.Context) error) *sharedCheck {
	return &sharedCheck{check: check, ttl: ttl, sem: make(chan struct{}, 1)}
}

// run returns the result of the check that ended less than ttl ago, or
// runs it.
func (s *sharedCheck) run(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	if !s.at.IsZero() && time.Since(s.at) < s.ttl {
		return s.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	s.err = s.check(ctx)
	s.at = time.Now()
	return s.err
}
