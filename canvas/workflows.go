package canvas

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/kubeorch"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// writeTimeout bounds a write: its fetch, commit and push.
const writeTimeout = time.Minute

// Workflow is a workflow in the shape the editor loads and shows: the
// file's fields, and its history's.
type Workflow struct {
	// ID is the workflow's name, the stem of its file: the editor keeps
	// it as an opaque string.
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Status      string         `json:"status"`
	ClusterID   string         `json:"cluster_id"`
	Tags        []string       `json:"tags"`
	Nodes       jsontext.Value `json:"nodes"`
	Edges       jsontext.Value `json:"edges"`
	OwnerID     string         `json:"owner_id"`
	// CurrentVersion is the number of the newest version.
	CurrentVersion int       `json:"current_version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// The run counts are KubeOrch's; a run in Slipway is a deploy of the
	// branch, which the status routes follow.
	RunCount     int `json:"run_count"`
	SuccessCount int `json:"success_count"`
	FailureCount int `json:"failure_count"`
	// Commit is the commit of the newest version; a save that sends it as
	// If-Match is refused when the workflow changed since.
	Commit string `json:"commit"`
}

// fileFields are the workflow file's fields the editor shows.
type fileFields struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	ClusterID   string         `json:"cluster_id"`
	Status      string         `json:"status"`
	Tags        []string       `json:"tags"`
	Nodes       jsontext.Value `json:"nodes"`
	Edges       jsontext.Value `json:"edges"`
}

// idPattern is what a workflow id may be: a workflow name, a DNS label.
// Nothing else reaches a path in the repository.
var idPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// workflowID returns the :id parameter, copied (fiber reuses its buffer),
// or errNoWorkflow when it cannot name a workflow.
func workflowID(c *fiber.Ctx) (string, error) {
	id := c.Params("id")
	if !idPattern.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not a workflow name", errNoWorkflow, id)
	}
	return strings.Clone(id), nil
}

// registerWorkflows adds the workflow routes.
func (s *Server) registerWorkflows(r fiber.Router) {
	r.Get("/workflows", s.requireUser, s.listWorkflows)
	r.Get("/dashboard/recent-workflows", s.requireUser, s.recentWorkflows)
	r.Post("/workflows", s.requireUser, s.createWorkflow)
	r.Get("/workflows/:id", s.requireUser, s.getWorkflow)
	r.Post("/workflows/:id/save", s.requireUser, s.saveWorkflow)
	r.Put("/workflows/:id/status", s.requireUser, s.setStatus)
}

// head returns the source branch's head, fetched. In pull-request mode
// the fetch waits for the saves' pushes (s.branches).
func (s *Server) head(ctx context.Context) (*object.Commit, error) {
	if s.opts.PullRequests != nil {
		s.branches.Lock()
		defer s.branches.Unlock()
	}
	return s.fetchHead(ctx)
}

// fetchHead is head without waiting.
func (s *Server) fetchHead(ctx context.Context) (*object.Commit, error) {
	if err := s.opts.Source.Fetch(ctx); err != nil {
		return nil, err
	}
	return s.opts.Source.Resolve(s.opts.SourceBranch)
}

func (s *Server) listWorkflows(c *fiber.Ctx) error {
	ws, err := s.workflows(c.UserContext())
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(fiber.Map{"workflows": ws})
}

// recentWorkflows is the dashboard's list: the workflows changed last,
// newest first.
func (s *Server) recentWorkflows(c *fiber.Ctx) error {
	ws, err := s.workflows(c.UserContext())
	if err != nil {
		return s.fail(c, err)
	}
	slices.SortStableFunc(ws, func(a, b Workflow) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return c.JSON(fiber.Map{"workflows": ws[:min(len(ws), recentWorkflows)]})
}

// recentWorkflows is how many workflows the dashboard lists.
const recentWorkflows = 5

// workflows returns every workflow of the source branch's head, by id.
func (s *Server) workflows(ctx context.Context) ([]Workflow, error) {
	head, err := s.head(ctx)
	if err != nil {
		return nil, err
	}
	files, err := s.opts.Source.Source(head)
	if err != nil {
		return nil, err
	}
	// One walk of the history for every workflow: a walk each would
	// make a list's work the workflows times the commits.
	versions, err := s.opts.Source.AllVersions(ctx, head.Hash.String())
	if err != nil {
		return nil, err
	}
	out := []Workflow{}
	for p, data := range files {
		if !workflow.IsWorkflowFile(p) {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(p, workflow.WorkflowsDir+"/"), ".json")
		out = append(out, *workflowAt(id, data, versions[id]))
	}
	slices.SortFunc(out, func(a, b Workflow) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *Server) getWorkflow(c *fiber.Ctx) error {
	id, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	w, err := s.readWorkflow(c.UserContext(), id)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(w)
}

// readWorkflow reads workflow id where the editor reads it (readHead).
func (s *Server) readWorkflow(ctx context.Context, id string) (*Workflow, error) {
	head, _, err := s.readHead(ctx, id)
	if err != nil {
		return nil, err
	}
	files, err := s.opts.Source.Source(head)
	if err != nil {
		return nil, err
	}
	data, ok := files[workflow.WorkflowFile(id)]
	if !ok {
		return nil, fmt.Errorf("%w: %s", errNoWorkflow, id)
	}
	vs, err := s.opts.Source.Versions(ctx, head.Hash.String(), id)
	if err != nil {
		return nil, err
	}
	return workflowAt(id, data, vs), nil
}

// workflowAt makes the editor's workflow of file content data with its
// versions vs, oldest first.
func workflowAt(id string, data []byte, vs []gitrepo.Version) *Workflow {
	var f fileFields
	if err := json.Unmarshal(data, &f, json.RejectUnknownMembers(false)); err != nil {
		f = fileFields{Name: id, Status: string(workflow.StatusDraft)} // listed; check names the problem
	}
	w := &Workflow{ID: id, Name: id, Description: f.Description, Status: f.Status, ClusterID: f.ClusterID, Tags: f.Tags,
		Nodes: orEmpty(f.Nodes), Edges: orEmpty(f.Edges)}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	if len(vs) > 0 {
		first, last := vs[0], vs[len(vs)-1]
		w.CurrentVersion, w.CreatedAt, w.UpdatedAt, w.Commit = last.Number, first.Time.UTC(), last.Time.UTC(), last.Commit
	}
	return w
}

// orEmpty returns v, or an empty array for none.
func orEmpty(v jsontext.Value) jsontext.Value {
	if len(v) == 0 || v.Kind() != '[' {
		return jsontext.Value("[]")
	}
	return v
}

// CreateRequest is the body of POST /workflows.
type CreateRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	ClusterID   string `json:"cluster_id"`
}

func (s *Server) createWorkflow(c *fiber.Ctx) error {
	var req CreateRequest
	if err := readJSON(c, &req); err != nil {
		return s.fail(c, err)
	}
	if strings.TrimSpace(req.Name) == "" {
		return s.fail(c, &bodyError{status: http.StatusBadRequest, pointer: "/name", msg: "request body: /name: a workflow needs a name"})
	}
	// The file is named as an import from KubeOrch names it, with the
	// display name as the description's first line when they differ.
	id := kubeorch.DNSName(req.Name)
	if id != req.Name {
		req.Description = strings.TrimSpace(req.Name + "\n\n" + req.Description)
	}
	if why := workflow.ReservedName(id); why != "" {
		return s.fail(c, &bodyError{status: http.StatusBadRequest, pointer: "/name", msg: fmt.Sprintf("request body: /name: %q is reserved: %s", id, why)})
	}
	ms := []member{{name: "name", value: quote(id)}}
	if req.Description != "" {
		ms = append(ms, member{name: "description", value: quote(req.Description)})
	}
	if req.ClusterID != "" {
		ms = append(ms, member{name: "cluster_id", value: quote(req.ClusterID)})
	}
	ms = append(ms, member{name: "status", value: quote(string(workflow.StatusDraft))},
		member{name: "nodes", value: jsontext.Value("[]")}, member{name: "edges", value: jsontext.Value("[]")})
	content, err := writeMembers(ms, nil)
	if err != nil {
		return s.fail(c, err)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), writeTimeout)
	defer cancel()
	u, _ := CurrentUser(c)
	author, message, file := gitrepo.Signature{Name: u.Name, Email: u.Email}, fmt.Sprintf("Create %s from the canvas\n", id), workflow.WorkflowFile(id)
	var pr *PullRequest
	if s.opts.PullRequests != nil {
		pr, err = s.propose(ctx, id, author, message, func(_ string, _ *object.Commit, _ source.Files, cur []byte) ([]byte, error) {
			if cur != nil {
				return nil, fmt.Errorf("%s: %w", file, gitrepo.ErrExists)
			}
			return content, nil
		})
	} else {
		_, err = s.opts.Source.Append(ctx, s.opts.SourceBranch, []gitrepo.Change{{
			Files: map[string][]byte{file: content}, Author: author, When: time.Now(), Message: message,
		}})
	}
	if errors.Is(err, gitrepo.ErrExists) {
		return reply(c, http.StatusConflict, fmt.Sprintf("a workflow named %q exists already", id))
	}
	if err != nil {
		return s.fail(c, err)
	}
	w, err := s.readWorkflow(ctx, id)
	if err != nil {
		return s.fail(c, err)
	}
	return c.Status(http.StatusCreated).JSON(withPullRequest(fiber.Map{"id": id, "message": "Workflow created successfully", "workflow": w}, pr))
}

// withPullRequest adds to the answer m of a write in pull-request mode the
// pull request that proposes it, and says so in its message.
func withPullRequest(m fiber.Map, pr *PullRequest) fiber.Map {
	if pr != nil {
		m["pull_request"] = pr
		m["message"] = fmt.Sprintf("%s on %s: pull request #%d proposes it to %s (%s)", m["message"], pr.Branch, pr.Number, pr.Base, pr.URL)
	}
	return m
}

// quote returns s as a JSON string.
func quote(s string) jsontext.Value {
	b, _ := jsontext.AppendQuote(nil, s) // only invalid UTF-8 errs, and it is replaced
	return b
}

// SaveRequest is the body of POST /workflows/:id/save.
type SaveRequest struct {
	Nodes       []Node  `json:"nodes"`
	Edges       []Edge  `json:"edges"`
	Description *string `json:"description"`
}

func (s *Server) saveWorkflow(c *fiber.Ctx) error {
	id, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	var req SaveRequest
	if err := readJSON(c, &req); err != nil {
		return s.fail(c, err)
	}
	if req.Nodes == nil {
		req.Nodes = []Node{}
	}
	if req.Edges == nil {
		req.Edges = []Edge{}
	}
	nodes, err := cleanNodes(req.Nodes)
	if err != nil {
		return s.fail(c, &bodyError{status: http.StatusBadRequest, msg: "request body: " + err.Error()})
	}
	edges, err := json.Marshal(req.Edges)
	if err != nil {
		return s.fail(c, err)
	}
	set := map[string]jsontext.Value{"nodes": nodes, "edges": edges}
	if req.Description != nil {
		set["description"] = quote(*req.Description)
	}
	return s.edit(c, id, fmt.Sprintf("Save %s from the canvas\n", id), set)
}

// StatusRequest is the body of PUT /workflows/:id/status.
type StatusRequest struct {
	Status workflow.Status `json:"status"`
}

// setStatus commits a workflow's status. In Slipway a draft is not
// deployed: unpublishing one that runs makes Flux remove it, as archiving
// does.
func (s *Server) setStatus(c *fiber.Ctx) error {
	id, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	var req StatusRequest
	if err := readJSON(c, &req); err != nil {
		return s.fail(c, err)
	}
	switch req.Status {
	case workflow.StatusDraft, workflow.StatusPublished, workflow.StatusArchived:
	default:
		return s.fail(c, &bodyError{status: http.StatusBadRequest, pointer: "/status", msg: fmt.Sprintf("request body: /status: %q is not draft, published or archived", req.Status)})
	}
	return s.edit(c, id, fmt.Sprintf("Mark %s %s from the canvas\n", id, req.Status), map[string]jsontext.Value{"status": quote(string(req.Status))})
}

// edit commits new values of members of workflow id's file, as the
// signed-in user, and answers the workflow: to the source branch, or in
// pull-request mode to the workflow's saves branch (propose). With
// If-Match (the Commit of the workflow the editor loaded), the edit is
// refused when the workflow changed since; without it, the edit is made
// on the newest version, its other members kept. A published workflow
// whose new file has problems is refused with them.
func (s *Server) edit(c *fiber.Ctx, id, message string, set map[string]jsontext.Value) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), writeTimeout)
	defer cancel()
	ifMatch := strings.Trim(c.Get(fiber.HeaderIfMatch), `" `)
	u, _ := CurrentUser(c)
	author, file := gitrepo.Signature{Name: u.Name, Email: u.Email}, workflow.WorkflowFile(id)
	next := func(branch string, head *object.Commit, files source.Files, content []byte) ([]byte, error) {
		if content == nil {
			return nil, fmt.Errorf("%w: %s", errNoWorkflow, id)
		}
		if ifMatch != "" {
			if err := s.loaded(ctx, branch, head, id, ifMatch); err != nil {
				return nil, err
			}
		}
		ms, err := readMembers(content)
		if err != nil {
			return nil, &problemsError{problems: workflow.Errors{{File: file, Message: fmt.Sprintf("the file is no JSON object Slipway can edit: %v; fix it in git", err)}}}
		}
		fresh := map[string]bool{}
		for name, v := range set {
			ms = setMember(ms, name, v)
			fresh[name] = true
		}
		next, err := writeMembers(ms, fresh)
		if err != nil {
			return nil, err
		}
		return next, s.check(ctx, files, file, next)
	}
	var pr *PullRequest
	var err error
	if s.opts.PullRequests != nil {
		pr, err = s.propose(ctx, id, author, message, next)
	} else {
		err = s.commitEdit(ctx, file, author, message, next)
	}
	if err != nil && !errors.Is(err, gitrepo.ErrUnchanged) {
		return s.fail(c, err)
	}
	w, err := s.readWorkflow(ctx, id)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(withPullRequest(fiber.Map{"message": "Workflow saved successfully", "workflow": w}, pr))
}

// commitEdit commits the content next returns for file to the source
// branch, by compare-and-swap.
func (s *Server) commitEdit(ctx context.Context, file string, author gitrepo.Signature, message string, next nextContent) error {
	// The other files the new one is checked with are read first: the
	// repository is locked while the edit runs.
	head, err := s.head(ctx)
	if err != nil {
		return err
	}
	files, err := s.opts.Source.Source(head)
	if err != nil {
		return err
	}
	_, err = s.opts.Source.EditFile(ctx, s.opts.SourceBranch, file, author, message, func(head *object.Commit, content []byte) ([]byte, error) {
		return next(s.opts.SourceBranch, head, files, content)
	})
	return err
}

// loaded returns errStale unless commit, the version of workflow id the
// editor loaded, is its newest at head of branch; when commit is not in
// head's history at all, the error says that the branch was rewritten.
func (s *Server) loaded(ctx context.Context, branch string, head *object.Commit, id, commit string) error {
	vs, err := s.opts.Source.Versions(ctx, head.Hash.String(), id)
	if err != nil {
		return err
	}
	if len(vs) > 0 && vs[len(vs)-1].Commit == commit {
		return nil
	}
	if !plumbing.IsHash(commit) {
		return fmt.Errorf("%w: %s is at another version than %q, which is no commit; load it again", errStale, id, commit)
	}
	if c, err := s.opts.Source.Commit(plumbing.NewHash(commit)); err != nil {
		return fmt.Errorf("%w: %s is at another version than %s, a commit this service does not know; load it again", errStale, id, gitrepo.ShortID(commit))
	} else if in, err := c.IsAncestor(head); err == nil && !in {
		return fmt.Errorf("%w: %s is no longer in the history of %s, which was rewritten (force-pushed) since %s was loaded; load it again",
			errStale, gitrepo.ShortID(commit), branch, id)
	}
	return fmt.Errorf("%w: %s is at another version than %s; load it again", errStale, id, gitrepo.ShortID(commit))
}

// check returns the problems file would have with content next among
// files, when it is published: a published workflow with problems would
// not deploy. A draft's problems are warnings and never stop a save.
func (s *Server) check(ctx context.Context, files source.Files, file string, next []byte) error {
	files = maps.Clone(files)
	files[file] = next
	repo, err := s.loader.Load(ctx, files)
	if err != nil {
		return err
	}
	var problems workflow.Errors
	for _, e := range repo.Problems() {
		if e.File == file {
			problems = append(problems, e)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &problemsError{problems: problems}
}

// problemsError is a workflow file that would not deploy.
type problemsError struct {
	problems workflow.Errors
}

func (e *problemsError) Error() string {
	return fmt.Sprintf("the workflow would not deploy: %v", e.problems)
}
