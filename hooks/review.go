package hooks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/review"
	"github.com/slipway-gitops/slipway/source"
)

// reviewMarker finds Slipway's comment on a pull request again, so that
// it is edited in place rather than posted anew.
const reviewMarker = "<!-- slipway-review -->"

// statusContext names Slipway's commit status.
const statusContext = "slipway/diff"

// ReviewerConfig configures a Reviewer.
type ReviewerConfig struct {
	// Source is the workflows repository the pull requests are of.
	Source *gitrepo.Repo
	// Compiler renders both sides of a change.
	Compiler *compiler.Compiler
	// GitHubToken authenticates comments and statuses; GitHubAPIURL is
	// GitHub's REST API.
	GitHubToken  string
	GitHubAPIURL string
	// Timeout bounds each call to GitHub's API (default GitHubTimeout).
	Timeout time.Duration
	// Clusters, when set, returns the client configurations of the
	// clusters the service can read (HOOKS_KUBECONFIG's contexts), by
	// cluster name; the review then adds a server-side dry-run of the
	// changed objects against each (see review.Review.DryRun).
	Clusters func(clusters []string) (map[string]*rest.Config, error)
	// DryRun bounds the dry-runs and names the Flux namespace; its
	// Clusters are those Clusters returns.
	DryRun review.DryRunOptions
}

// GitHubTimeout bounds each call to GitHub's API, so that a call that
// never gets an answer fails and is retried rather than holding its job.
const GitHubTimeout = 30 * time.Second

// NewGitHubClient returns a client of GitHub's REST API at apiURL that
// authenticates with token and gives up on a call after timeout.
func NewGitHubClient(token, apiURL string, timeout time.Duration) (*github.Client, error) {
	gh := github.NewClient(&http.Client{Timeout: timeout}).WithAuthToken(token)
	base, err := url.Parse(strings.TrimSuffix(apiURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("GitHub API URL: %w", err)
	}
	gh.BaseURL = base
	return gh, nil
}

// Reviewer renders a pull request's change and reports it on GitHub: one
// comment, upserted, and a commit status.
type Reviewer struct {
	source   *gitrepo.Repo
	github   *github.Client
	compiler *compiler.Compiler
	clusters func([]string) (map[string]*rest.Config, error)
	dryRun   review.DryRunOptions

	mu sync.Mutex
	// reviewing holds, by pull request, a channel closed when its review
	// ends: two reviews of one pull request would both post its comment.
	reviewing map[string]chan struct{}
}

// NewReviewer returns a Reviewer.
func NewReviewer(cfg ReviewerConfig) (*Reviewer, error) {
	if cfg.Source == nil || cfg.Compiler == nil || cfg.GitHubToken == "" {
		return nil, errors.New("reviewer: a source repository, a compiler and a GitHub token are required")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("reviewer: the timeout must not be negative")
	}
	if cfg.Clusters != nil {
		if err := cfg.DryRun.Validate(); err != nil {
			return nil, fmt.Errorf("reviewer: %w", err)
		}
	}
	gh, err := NewGitHubClient(cfg.GitHubToken, cfg.GitHubAPIURL, cmp.Or(cfg.Timeout, GitHubTimeout))
	if err != nil {
		return nil, fmt.Errorf("reviewer: %w", err)
	}
	return &Reviewer{source: cfg.Source, github: gh, compiler: cfg.Compiler, clusters: cfg.Clusters, dryRun: cfg.DryRun, reviewing: map[string]chan struct{}{}}, nil
}

// lock waits until no other review of the pull request runs, or ctx
// ends, and returns the function that lets the next one run.
func (r *Reviewer) lock(ctx context.Context, job ReviewJob) (unlock func(), err error) {
	key := fmt.Sprintf("%s#%d", job.Repo, job.Number)
	for {
		r.mu.Lock()
		running, busy := r.reviewing[key]
		if !busy {
			done := make(chan struct{})
			r.reviewing[key] = done
			r.mu.Unlock()
			return func() {
				r.mu.Lock()
				delete(r.reviewing, key)
				r.mu.Unlock()
				close(done)
			}, nil
		}
		r.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return nil, fmt.Errorf("review: wait for the review of %s before: %w", key, ctx.Err())
		}
	}
}

// Review handles one review job. Reviews of different pull requests run
// at once; those of one pull request, one after the other.
func (r *Reviewer) Review(ctx context.Context, job ReviewJob) error {
	owner, repo, err := splitRepo(job.Repo)
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx, job)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.source.FetchPull(ctx, job.Number); err != nil {
		return err
	}
	read := func(rev string) (source.Files, error) {
		c, err := r.source.Resolve(rev)
		if err != nil {
			return nil, err
		}
		return r.source.Source(c)
	}
	base, err := read(job.BaseCommit)
	if err != nil {
		return fmt.Errorf("review: base: %w", err)
	}
	head, err := read(job.HeadCommit)
	if err != nil {
		return fmt.Errorf("review: head: %w", err)
	}
	rv, err := review.Compare(ctx, r.compiler, gitrepo.ShortID(job.BaseCommit), gitrepo.ShortID(job.HeadCommit), base, head)
	if err != nil {
		return err
	}
	r.dryRunReview(ctx, rv)
	var body bytes.Buffer
	body.WriteString(reviewMarker + "\n")
	if err := rv.WriteMarkdown(&body, review.MarkdownBudget-len(reviewMarker)-1); err != nil {
		return err
	}
	if err := r.upsertComment(ctx, owner, repo, job.Number, body.String()); err != nil {
		return err
	}
	state, desc := "success", fmt.Sprintf("%d workflows change the deploy branch", rv.Summary.Workflows)
	if len(rv.Problems) > 0 {
		state, desc = "failure", fmt.Sprintf("%d problems in the workflows", len(rv.Problems))
	}
	_, _, err = r.github.Repositories.CreateStatus(ctx, owner, repo, job.HeadCommit, &github.RepoStatus{
		State: github.String(state), Context: github.String(statusContext), Description: github.String(desc),
	})
	if err != nil {
		return fmt.Errorf("review: status: %w", err)
	}
	return nil
}

// dryRunReview adds the dry-run of the changed objects against the
// clusters the service can read. A kubeconfig that cannot be read gives
// each cluster of the change a note; the review posts either way.
func (r *Reviewer) dryRunReview(ctx context.Context, rv *review.Review) {
	if r.clusters == nil || len(rv.Problems) > 0 {
		return
	}
	names := map[string]bool{}
	for _, w := range rv.Workflows {
		for _, o := range w.Objects {
			names[o.Cluster] = true
		}
	}
	if len(names) == 0 {
		return
	}
	clusters := slices.Sorted(maps.Keys(names))
	opts := r.dryRun
	var err error
	if opts.Clusters, err = r.clusters(clusters); err == nil && len(opts.Clusters) == 0 {
		return // the service reads none of these clusters
	}
	if err == nil {
		err = rv.DryRun(ctx, opts)
	}
	if err != nil {
		rv.DryRuns = nil
		for _, cl := range clusters {
			rv.DryRuns = append(rv.DryRuns, review.DryRun{Cluster: cl, Note: fmt.Sprintf("not dry-run: %v", err)})
		}
	}
}

// reviewJobs runs review jobs with a Reviewer; without one, they fail at
// once.
type reviewJobs struct{ reviewer *Reviewer }

// Run reviews the pull request of a ReviewJob payload.
func (h reviewJobs) Run(ctx context.Context, payload json.RawMessage) error {
	if h.reviewer == nil {
		return permanent{errors.New("no reviewer: set HOOKS_GITHUB_TOKEN to review pull requests")}
	}
	var job ReviewJob
	if err := json.Unmarshal(payload, &job); err != nil {
		return permanent{fmt.Errorf("review job: %w", err)}
	}
	return h.reviewer.Review(ctx, job)
}

// Failed sets the pull request's commit status to error, with the reason.
func (h reviewJobs) Failed(ctx context.Context, payload json.RawMessage, reason string) error {
	var job ReviewJob
	if h.reviewer == nil || json.Unmarshal(payload, &job) != nil {
		return nil
	}
	return h.reviewer.ReportError(ctx, job, reason)
}

// maxStatusDescription is the longest description GitHub keeps on a
// commit status.
const maxStatusDescription = 140

// ReportError sets the commit status of a pull request's head to error,
// with the reason, when its review could not be made.
func (r *Reviewer) ReportError(ctx context.Context, job ReviewJob, reason string) error {
	owner, repo, err := splitRepo(job.Repo)
	if err != nil {
		return err
	}
	desc := []rune("Slipway could not review this change: " + reason)
	if len(desc) > maxStatusDescription {
		desc = append(desc[:maxStatusDescription-1], '…')
	}
	_, _, err = r.github.Repositories.CreateStatus(ctx, owner, repo, job.HeadCommit, &github.RepoStatus{
		State: github.String("error"), Context: github.String(statusContext), Description: github.String(string(desc)),
	})
	if err != nil {
		return fmt.Errorf("review: status: %w", err)
	}
	return nil
}

// splitRepo splits a repository's full name into owner and name.
func splitRepo(fullName string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(fullName, "/")
	if !ok {
		return "", "", fmt.Errorf("review: %q is not owner/repo", fullName)
	}
	return owner, repo, nil
}

// upsertComment edits Slipway's comment on the pull request, or posts it.
func (r *Reviewer) upsertComment(ctx context.Context, owner, repo string, number int, body string) error {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		comments, resp, err := r.github.Issues.ListComments(ctx, owner, repo, number, opts)
		if err != nil {
			return fmt.Errorf("review: list comments: %w", err)
		}
		for _, c := range comments {
			if strings.HasPrefix(c.GetBody(), reviewMarker) {
				_, _, err := r.github.Issues.EditComment(ctx, owner, repo, c.GetID(), &github.IssueComment{Body: github.String(body)})
				if err != nil {
					return fmt.Errorf("review: edit comment: %w", err)
				}
				return nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if _, _, err := r.github.Issues.CreateComment(ctx, owner, repo, number, &github.IssueComment{Body: github.String(body)}); err != nil {
		return fmt.Errorf("review: comment: %w", err)
	}
	return nil
}
