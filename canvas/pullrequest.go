package canvas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-github/v60/github"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// BranchPrefix starts the name of the branch that holds a workflow's
// saves in pull-request mode: BranchPrefix + the workflow's name. One
// branch per workflow, not per user: two users editing a workflow see one
// canvas in the editor, and propose it in one pull request.
const BranchPrefix = "slipway/canvas/"

// SaveBranch returns the branch that holds the saves of workflow id in
// pull-request mode.
func SaveBranch(id string) string { return BranchPrefix + id }

// PullRequests opens and finds the pull requests that propose the saves
// of pull-request mode (*GitHub).
type PullRequests interface {
	// OpenPullRequest returns the open pull request of p.Head into
	// p.Base, opening it with p's title and body when none is; opened
	// tells which.
	OpenPullRequest(ctx context.Context, p NewPullRequest) (pr *PullRequest, opened bool, err error)
	// FindPullRequest returns the open pull request of head into base, or
	// nil when none is.
	FindPullRequest(ctx context.Context, head, base string) (*PullRequest, error)
}

// NewPullRequest is a pull request to open.
type NewPullRequest struct {
	// Head is the branch proposed, Base the branch it is proposed to.
	Head, Base  string
	Title, Body string
}

// PullRequest is the pull request that proposes a workflow's saves, as
// the answers of the writes tell the editor (which ignores it; a client
// that knows it links to it).
type PullRequest struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	// Branch holds the saves; Base is the branch they are proposed to.
	Branch string `json:"branch"`
	Base   string `json:"base"`
	// Opened is true when this write opened the pull request.
	Opened bool `json:"opened"`
}

// GitHub opens pull requests on a GitHub repository.
type GitHub struct {
	client      *github.Client
	owner, repo string
	// mu makes this process's look-up and opening of a pull request one
	// step, so that two saves of one workflow open one; another
	// process's second is refused by GitHub and found instead.
	mu sync.Mutex
}

// NewGitHub returns a GitHub that opens pull requests on repo
// ("owner/name") with client.
func NewGitHub(client *github.Client, repo string) (*GitHub, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("canvas: %q is not a GitHub repository (owner/name)", repo)
	}
	return &GitHub{client: client, owner: owner, repo: name}, nil
}

// FindPullRequest implements PullRequests.
func (g *GitHub) FindPullRequest(ctx context.Context, head, base string) (*PullRequest, error) {
	prs, _, err := g.client.PullRequests.List(ctx, g.owner, g.repo, &github.PullRequestListOptions{
		State: "open", Head: g.owner + ":" + head, Base: base, ListOptions: github.ListOptions{PerPage: 1}})
	if err != nil {
		return nil, fmt.Errorf("list the pull requests of %s on %s/%s: %w", head, g.owner, g.repo, err)
	}
	if len(prs) == 0 {
		return nil, nil
	}
	return &PullRequest{Number: prs[0].GetNumber(), URL: prs[0].GetHTMLURL(), Branch: head, Base: base}, nil
}

// OpenPullRequest implements PullRequests.
func (g *GitHub) OpenPullRequest(ctx context.Context, p NewPullRequest) (*PullRequest, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pr, err := g.FindPullRequest(ctx, p.Head, p.Base); pr != nil || err != nil {
		return pr, false, err
	}
	pr, _, err := g.client.PullRequests.Create(ctx, g.owner, g.repo, &github.NewPullRequest{
		Title: &p.Title, Head: &p.Head, Base: &p.Base, Body: &p.Body, MaintainerCanModify: github.Bool(true)})
	var ge *github.ErrorResponse
	if errors.As(err, &ge) && ge.Response != nil && ge.Response.StatusCode == http.StatusUnprocessableEntity {
		// Another process opened it since the look-up.
		if found, ferr := g.FindPullRequest(ctx, p.Head, p.Base); found != nil || ferr != nil {
			return found, false, ferr
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("open a pull request of %s into %s on %s/%s: %w", p.Head, p.Base, g.owner, g.repo, err)
	}
	return &PullRequest{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), Branch: p.Head, Base: p.Base}, true, nil
}

// errPullRequest means a save is on its branch but its pull request did
// not open: GitHub failed. The next save opens it.
var errPullRequest = errors.New("the pull request did not open")

// saveBranch returns the source branch's head, fetched, and where
// workflow id's saves branch is: old is its head (zero when it does not
// exist), and pending is that head when it holds saves the source
// branch has not merged; nil when the branch does not exist or the
// source branch has merged it. Callers hold s.branches.
func (s *Server) saveBranch(ctx context.Context, id string) (src *object.Commit, old plumbing.Hash, pending *object.Commit, err error) {
	if src, err = s.fetchHead(ctx); err != nil {
		return nil, old, nil, err
	}
	old, err = s.opts.Source.Branch(SaveBranch(id))
	if err != nil || old.IsZero() {
		return src, old, nil, err
	}
	c, err := s.opts.Source.Commit(old)
	if err != nil {
		return nil, old, nil, err
	}
	merged, err := c.IsAncestor(src)
	if err != nil {
		return nil, old, nil, fmt.Errorf("is %s merged into %s: %w", SaveBranch(id), s.opts.SourceBranch, err)
	}
	if merged {
		return src, old, nil, nil
	}
	return src, old, c, nil
}

// readHead returns the commit the editor reads workflow id at, and its
// branch: in pull-request mode, the head of the workflow's saves branch
// while it holds saves the source branch has not merged, so that a
// reload shows what was saved; the source branch's head otherwise.
func (s *Server) readHead(ctx context.Context, id string) (*object.Commit, string, error) {
	if s.opts.PullRequests == nil {
		src, err := s.head(ctx)
		return src, s.opts.SourceBranch, err
	}
	s.branches.Lock()
	defer s.branches.Unlock()
	src, _, pending, err := s.saveBranch(ctx, id)
	switch {
	case err != nil:
		return nil, "", err
	case pending != nil:
		return pending, SaveBranch(id), nil
	}
	return src, s.opts.SourceBranch, nil
}

// nextContent returns the new content of a workflow's file, given the
// branch and commit the write builds on, that commit's files, and the
// file's content there (nil when it has none); an error stops the write.
type nextContent func(branch string, base *object.Commit, files source.Files, content []byte) ([]byte, error)

// propose writes, in pull-request mode, the content next returns as a
// commit by author on workflow id's saves branch, and opens the branch's
// pull request into the source branch unless one is open. The branch
// continues while it holds saves the source branch has not merged, and
// starts again from the source branch's head otherwise (it does not
// exist, or was merged); the source branch is never written. When the
// content is unchanged, nothing is committed and the error is
// gitrepo.ErrUnchanged, with the pull request of the saves pending, if
// any.
func (s *Server) propose(ctx context.Context, id string, author gitrepo.Signature, message string, next nextContent) (*PullRequest, error) {
	pending, err := s.commitSave(ctx, id, author, message, next)
	if pending == nil {
		return nil, err
	}
	subject, _, _ := strings.Cut(message, "\n")
	branch := SaveBranch(id)
	pr, opened, perr := s.opts.PullRequests.OpenPullRequest(ctx, NewPullRequest{Head: branch, Base: s.opts.SourceBranch, Title: subject,
		Body: fmt.Sprintf("Saved from the canvas by %s <%s>.\n\nLater saves of %s add commits to this pull request; merging it deploys them.\n",
			author.Name, author.Email, id)})
	if perr != nil {
		return nil, fmt.Errorf("%w: %s is saved on %s, and its next save opens the pull request: %w", errPullRequest, id, branch, perr)
	}
	pr.Opened = opened
	return pr, err
}

// commitSave commits, for propose, the content next returns on workflow
// id's saves branch, and returns the branch's head when it holds saves
// to propose: with a nil error, or gitrepo.ErrUnchanged when this save
// changed nothing.
func (s *Server) commitSave(ctx context.Context, id string, author gitrepo.Signature, message string, next nextContent) (*object.Commit, error) {
	s.branches.Lock()
	defer s.branches.Unlock()
	branch, file := SaveBranch(id), workflow.WorkflowFile(id)
	for attempt := 0; ; attempt++ {
		src, old, pending, err := s.saveBranch(ctx, id)
		if err != nil {
			return nil, err
		}
		base, from := src, s.opts.SourceBranch
		if pending != nil {
			if bases, err := pending.MergeBase(src); err != nil || len(bases) == 0 {
				return nil, fmt.Errorf("%w: %s shares no history with %s: it was rewritten; delete the branch, closing its pull request, to save again from %s",
					gitrepo.ErrConflict, branch, s.opts.SourceBranch, s.opts.SourceBranch)
			}
			base, from = pending, branch
		}
		files, err := s.opts.Source.Source(base)
		if err != nil {
			return nil, err
		}
		content, err := next(from, base, files, files[file])
		if err != nil {
			return nil, err
		}
		c, err := s.opts.Source.CommitBranch(ctx, branch, base, old, map[string][]byte{file: content}, author, message)
		switch {
		case errors.Is(err, gitrepo.ErrConflict) && attempt < gitrepo.MaxAttempts:
			continue
		case errors.Is(err, gitrepo.ErrUnchanged):
			return pending, err
		case err != nil:
			return nil, err
		}
		return c, nil
	}
}

// unmerged returns, in pull-request mode, what a run of workflow name
// does not deploy: the saves its pull request has not merged into the
// source branch; "" when there are none, or in commit mode.
func (s *Server) unmerged(ctx context.Context, name string) string {
	if s.opts.PullRequests == nil {
		return ""
	}
	if _, branch, err := s.readHead(ctx, name); err != nil || branch == s.opts.SourceBranch {
		return ""
	}
	where := SaveBranch(name)
	if pr, err := s.opts.PullRequests.FindPullRequest(ctx, where, s.opts.SourceBranch); err == nil && pr != nil {
		where = fmt.Sprintf("pull request #%d (%s)", pr.Number, pr.URL)
	}
	return fmt.Sprintf("Not deployed: the saves of %s in %s, until it is merged into %s; a run deploys %s only", name, where, s.opts.SourceBranch, s.opts.SourceBranch)
}

// noteUnmerged adds to the message of a run of workflow name that was
// refused (a bodyError, or no such workflow) what the run would not have
// deployed (unmerged): a workflow created or published only in its pull
// request is missing, or a draft, to a run.
func (s *Server) noteUnmerged(ctx context.Context, name string, err error) error {
	var be *bodyError
	if !errors.As(err, &be) && !errors.Is(err, errNoWorkflow) {
		return err
	}
	note := s.unmerged(ctx, name)
	switch {
	case note == "":
		return err
	case be != nil:
		return &bodyError{status: be.status, pointer: be.pointer, msg: be.msg + ". " + note}
	}
	return fmt.Errorf("%w. %s", err, note)
}
