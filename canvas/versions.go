package canvas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/source"
)

// Version is a version of a workflow in the editor's shape: a commit that
// changed its file.
type Version struct {
	// ID is the commit.
	ID         string         `json:"id"`
	WorkflowID string         `json:"workflow_id"`
	Version    int            `json:"version"`
	Nodes      jsontext.Value `json:"nodes"`
	Edges      jsontext.Value `json:"edges"`
	// Description is the commit message's subject.
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// CreatedBy is the commit's author: the user who saved.
	CreatedBy string `json:"created_by"`
	// RestoredFrom is the version a restore brought back, or omitted.
	RestoredFrom int  `json:"restored_from,omitempty"`
	IsAutomatic  bool `json:"is_automatic"`
}

// VersionList is a page of versions, newest first.
type VersionList struct {
	Versions []Version `json:"versions"`
	Total    int       `json:"total"`
	Page     int       `json:"page"`
	Limit    int       `json:"limit"`
}

// Paging of the version list.
const (
	defaultVersionLimit = 10
	maxVersionLimit     = 100
)

// registerVersions adds the version routes.
func (s *Server) registerVersions(r fiber.Router) {
	r.Get("/workflows/:id/versions", s.requireUser, s.listVersions)
	r.Get("/workflows/:id/versions/:version", s.requireUser, s.getVersion)
	r.Post("/workflows/:id/versions/:version/restore", s.requireUser, s.restoreVersion)
}

// versions returns the versions of workflow id where the editor reads it
// (readHead), oldest first; none is errNoWorkflow.
func (s *Server) versions(ctx context.Context, id string) ([]gitrepo.Version, error) {
	head, _, err := s.readHead(ctx, id)
	if err != nil {
		return nil, err
	}
	vs, err := s.opts.Source.Versions(ctx, head.Hash.String(), id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: %s", errNoWorkflow, id)
	}
	return vs, nil
}

func (s *Server) listVersions(c *fiber.Ctx) error {
	id, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	page, limit := c.QueryInt("page", 1), c.QueryInt("limit", defaultVersionLimit)
	if page < 1 || limit < 1 || limit > maxVersionLimit {
		return reply(c, http.StatusBadRequest, fmt.Sprintf("page must be 1 or more and limit between 1 and %d", maxVersionLimit))
	}
	vs, err := s.versions(c.UserContext(), id)
	if err != nil {
		return s.fail(c, err)
	}
	out := VersionList{Versions: []Version{}, Total: len(vs), Page: page, Limit: limit}
	// Newest first: the page's first is len-1-(page-1)*limit; a page
	// past the end starts below 0 without (page-1)*limit overflowing.
	for i := len(vs) - 1 - min(page-1, len(vs))*limit; i >= 0 && len(out.Versions) < limit; i-- {
		v, err := s.version(id, vs[i])
		if err != nil {
			return s.fail(c, err)
		}
		out.Versions = append(out.Versions, *v)
	}
	return c.JSON(out)
}

func (s *Server) getVersion(c *fiber.Ctx) error {
	id, n, err := versionParams(c)
	if err != nil {
		return s.fail(c, err)
	}
	vs, err := s.versions(c.UserContext(), id)
	if err != nil {
		return s.fail(c, err)
	}
	for _, v := range vs {
		if v.Number == n {
			out, err := s.version(id, v)
			if err != nil {
				return s.fail(c, err)
			}
			return c.JSON(out)
		}
	}
	return reply(c, http.StatusNotFound, fmt.Sprintf("%s has no version %d", id, n))
}

// restoreVersion writes a version back as a new commit, its author the
// signed-in user, and answers the new version and the workflow. In
// pull-request mode the commit is a save (propose) of the version the
// editor lists.
func (s *Server) restoreVersion(c *fiber.Ctx) error {
	id, n, err := versionParams(c)
	if err != nil {
		return s.fail(c, err)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), writeTimeout)
	defer cancel()
	u, _ := CurrentUser(c)
	author := gitrepo.Signature{Name: u.Name, Email: u.Email}
	var pr *PullRequest
	if s.opts.PullRequests != nil {
		pr, err = s.proposeRestore(ctx, id, n, author)
	} else {
		_, err = s.opts.Source.Restore(ctx, s.opts.SourceBranch, id, n, author)
	}
	if errors.Is(err, gitrepo.ErrUnchanged) {
		return reply(c, http.StatusConflict, fmt.Sprintf("%s is at the content of version %d already", id, n))
	}
	if err != nil {
		return s.fail(c, err)
	}
	vs, err := s.versions(ctx, id)
	if err != nil {
		return s.fail(c, err)
	}
	v, err := s.version(id, vs[len(vs)-1])
	if err != nil {
		return s.fail(c, err)
	}
	w, err := s.readWorkflow(ctx, id)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(withPullRequest(fiber.Map{"message": fmt.Sprintf("Restored version %d as version %d", n, v.Version), "version": v, "workflow": w}, pr))
}

// proposeRestore saves version n of workflow id, as the editor lists it,
// in pull-request mode.
func (s *Server) proposeRestore(ctx context.Context, id string, n int, author gitrepo.Signature) (*PullRequest, error) {
	head, _, err := s.readHead(ctx, id)
	if err != nil {
		return nil, err
	}
	content, _, err := s.opts.Source.Show(ctx, head.Hash.String(), id, n)
	if err != nil {
		return nil, err
	}
	return s.propose(ctx, id, author, fmt.Sprintf("Restore %s to version %d\n", id, n), func(string, *object.Commit, source.Files, []byte) ([]byte, error) {
		return content, nil
	})
}

// versionParams returns the :id and :version parameters.
func versionParams(c *fiber.Ctx) (string, int, error) {
	id, err := workflowID(c)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(c.Params("version"))
	if err != nil || n < 1 {
		return "", 0, &bodyError{status: http.StatusBadRequest, msg: fmt.Sprintf("version %q is not a number from 1", c.Params("version"))}
	}
	return id, n, nil
}

// version makes the editor's version of a commit of workflow id.
func (s *Server) version(id string, v gitrepo.Version) (*Version, error) {
	content, err := s.opts.Source.Content(v)
	if err != nil {
		return nil, err
	}
	var f fileFields
	if err := json.Unmarshal(content, &f, json.RejectUnknownMembers(false)); err != nil {
		f = fileFields{} // a version that did not decode shows no canvas
	}
	subject, _, _ := strings.Cut(v.Message, "\n")
	return &Version{ID: v.Commit, WorkflowID: id, Version: v.Number, Nodes: orEmpty(f.Nodes), Edges: orEmpty(f.Edges),
		Description: subject, CreatedAt: v.Time.UTC(), CreatedBy: v.Author, RestoredFrom: restoredFrom(subject, id)}, nil
}

// restoredFrom returns the version a restore commit's subject names
// ("Restore <id> to version <n>"), or 0.
func restoredFrom(subject, id string) int {
	rest, ok := strings.CutPrefix(subject, "Restore "+id+" to version ")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0
	}
	return n
}
