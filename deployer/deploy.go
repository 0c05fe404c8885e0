// Package deployer compiles the source branch of a workflows repository into
// its deploy branch, one deploy commit per source commit, safely against
// other deployers racing for the same branch.
package deployer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
)

// Options configure a Deployer.
type Options struct {
	// SourceBranch is the branch of the workflows repository to deploy.
	SourceBranch string
	// Branch is the deploy branch Flux reads.
	Branch string
	// Author signs deploy commits.
	Author gitrepo.Signature
	// WorkflowSources moves each workflow's source ref
	// (compiler.WorkflowSourceRef) to the deploy head whenever the
	// workflow's tree there differs from the one at the ref, and deletes
	// the refs of workflows the head lacks, with the deploy branch in one
	// push, for the layout where each workflow reads a GitRepository of
	// its own (compiler.Options.WorkflowSources). Without it a deploy
	// deletes every such ref, as a cluster switched back to the shared
	// source reads none.
	WorkflowSources bool
}

// Validate reports missing options.
func (o Options) Validate() error {
	var errs []error
	if o.SourceBranch == "" {
		errs = append(errs, errors.New("source branch is required"))
	}
	if o.Branch == "" {
		errs = append(errs, errors.New("deploy branch is required"))
	}
	if o.Author.Name == "" || o.Author.Email == "" {
		errs = append(errs, errors.New("author name and email are required"))
	}
	return errors.Join(errs...)
}

// Deployer compiles the source branch of one repository into the deploy
// branch of another (or the same). It keeps the compiler's cache and the
// objects it wrote, so that a deploy after a small change is cheap.
type Deployer struct {
	source, target *gitrepo.Repo
	compiler       *compiler.Compiler
	opts           Options

	mu   sync.Mutex
	last *Result // the newest deploy this deployer made or found current
	// sourcesGone is set once a deploy without Options.WorkflowSources
	// left no source ref: nothing makes one again, so later deploys list
	// none.
	sourcesGone bool
}

// New returns a Deployer from source to target.
func New(source, target *gitrepo.Repo, c *compiler.Compiler, opts Options) (*Deployer, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("deploy options: %w", err)
	}
	return &Deployer{source: source, target: target, compiler: c, opts: opts}, nil
}

// Result says what a deploy did.
type Result struct {
	// SourceCommit is the source commit compiled.
	SourceCommit string `json:"source_commit"`
	// DeployCommit is the head of the deploy branch afterwards.
	DeployCommit string `json:"deploy_commit"`
	// Committed is false when the deploy branch already had this output.
	Committed bool `json:"committed"`
	// Attempts counts tries; more than one means another deployer won a race.
	Attempts int `json:"attempts"`
	// Build is the compiler's result.
	Build *compiler.Result `json:"build"`
	// Sources are the workflows whose source ref this deploy moved
	// (Options.WorkflowSources), by name.
	Sources []string `json:"sources,omitempty"`
	// RemovedSources are the workflows whose source ref this deploy
	// deleted, as they left the deploy branch, by name.
	RemovedSources []string `json:"removed_sources,omitempty"`
}

// Deploy compiles the head of the source branch and commits the deploy
// tree to the deploy branch: parent the previous deploy commit, the source
// commit named in a Source-Commit trailer, no commit when the tree is
// unchanged. The branch moves by compare-and-swap; when another deployer
// moved it first, Deploy fetches, compiles the newest source again and
// retries, so deploy history stays linear and never holds a mixed tree.
// A source branch moved back to an older commit (a rollback) is deployed
// once a second read finds it there still. An invalid source fails at
// once, with the compiler's located errors.
func (d *Deployer) Deploy(ctx context.Context) (*Result, error) {
	var back plumbing.Hash // a source commit found older than the deployed one
	for attempt := 1; ; attempt++ {
		res, err := d.try(ctx, back)
		var older *olderSourceError
		if errors.As(err, &older) {
			back = older.source
		}
		if errors.Is(err, gitrepo.ErrConflict) && attempt < gitrepo.MaxAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Attempts = attempt
		return res, nil
	}
}

// olderSourceError means the deploy branch holds a descendant of the
// source commit read: the read was stale, or the source branch moved
// back.
type olderSourceError struct{ source plumbing.Hash }

func (e *olderSourceError) Error() string {
	return fmt.Sprintf("deploy branch already holds a newer source than %s", gitrepo.ShortID(e.source.String()))
}

func (e *olderSourceError) Unwrap() error { return gitrepo.ErrConflict }

// try deploys once; back is a source commit that an earlier try found
// older than the deployed one, which is deployed if read again.
func (d *Deployer) try(ctx context.Context, back plumbing.Hash) (*Result, error) {
	if err := d.source.Fetch(ctx); err != nil {
		return nil, err
	}
	if d.target != d.source {
		if err := d.target.Fetch(ctx); err != nil {
			return nil, err
		}
	}
	src, err := d.source.Resolve(d.opts.SourceBranch)
	if err != nil {
		return nil, err
	}
	if res := d.current(src.Hash); res != nil {
		return res, nil
	}
	files, err := d.source.Source(src)
	if err != nil {
		return nil, err
	}
	build, err := d.compiler.Build(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", gitrepo.ShortID(src.Hash.String()), err)
	}
	res := &Result{SourceCommit: src.Hash.String(), Build: build}
	refuseOlder := func(prev *object.Commit) error {
		if src.Hash != back && d.newerDeployed(src, prev) {
			return &olderSourceError{source: src.Hash}
		}
		return nil
	}
	sources, err := d.sources(ctx, res)
	if err != nil {
		return nil, err
	}
	h, committed, err := d.target.ReplaceTree(ctx, d.opts.Branch, build.Tree, d.opts.Author, gitrepo.DeployMessage(src), refuseOlder, sources)
	if err != nil {
		return nil, err
	}
	res.DeployCommit, res.Committed = h.String(), committed
	d.remember(res)
	return res, nil
}

// sources returns what gives the moves of the workflows' source refs
// that go with a deploy commit (sourceMoves), recording them in res, or
// nil when there are none to make. The refs are listed also without
// Options.WorkflowSources, whose deploys delete those that deploys with
// it left, until a deploy leaves none.
func (d *Deployer) sources(ctx context.Context, res *Result) (func(head *object.Commit) ([]gitrepo.RefMove, error), error) {
	d.mu.Lock()
	gone := d.sourcesGone
	d.mu.Unlock()
	if gone {
		return nil, nil
	}
	listed, err := d.target.Refs(ctx, compiler.WorkflowSourceRef(d.opts.Branch, ""))
	if err != nil {
		return nil, err
	}
	return func(head *object.Commit) (moves []gitrepo.RefMove, err error) {
		moves, res.Sources, res.RemovedSources, err = d.sourceMoves(listed, head)
		return moves, err
	}, nil
}

// current returns, as an uncommitted result, the last deploy this
// deployer made or found current when it compiled the same source commit
// and the deploy branch has not moved since: the same compiler would
// produce the same tree again. Otherwise it returns nil.
func (d *Deployer) current(src plumbing.Hash) *Result {
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	if last == nil || last.SourceCommit != src.String() {
		return nil
	}
	head, err := d.target.Branch(d.opts.Branch)
	if err != nil || head.String() != last.DeployCommit {
		return nil
	}
	return &Result{SourceCommit: last.SourceCommit, DeployCommit: last.DeployCommit, Build: last.Build}
}

// remember records a deploy: the newest, and whether it left no source
// ref without Options.WorkflowSources.
func (d *Deployer) remember(res *Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = res
	d.sourcesGone = !d.opts.WorkflowSources
}

// newerDeployed reports whether the deploy commit prev was compiled from a
// descendant of src: then src was read before another deployer read a newer
// source, and deploying it would take the cluster back.
func (d *Deployer) newerDeployed(src, prev *object.Commit) bool {
	hs := gitrepo.SourceCommit(prev)
	if hs.IsZero() || hs == src.Hash {
		return false
	}
	deployed, err := d.source.Commit(hs)
	if err != nil {
		return false // not in this history (a force push): deploy what is there
	}
	newer, err := src.IsAncestor(deployed)
	return err == nil && newer
}
