package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/compiler"
)

// maxAttempts bounds the retries of a branch update that lost a race.
const maxAttempts = 20

// SourceCommitTrailer names, in every deploy commit, the source commit it
// was compiled from.
const SourceCommitTrailer = "Source-Commit"

// DeployOptions configure a Deployer.
type DeployOptions struct {
	// SourceBranch is the branch of the workflows repository to deploy.
	SourceBranch string
	// Branch is the deploy branch Flux reads.
	Branch string
	// Author signs deploy commits.
	Author Signature
}

// Validate reports missing options.
func (o DeployOptions) Validate() error {
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
	source, target *Repo
	compiler       *compiler.Compiler
	opts           DeployOptions

	mu   sync.Mutex
	last *DeployResult // the newest deploy this deployer made or found current
}

// NewDeployer returns a Deployer from source to target.
func NewDeployer(source, target *Repo, c *compiler.Compiler, opts DeployOptions) (*Deployer, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("deploy options: %w", err)
	}
	return &Deployer{source: source, target: target, compiler: c, opts: opts}, nil
}

// DeployResult says what a deploy did.
type DeployResult struct {
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
func (d *Deployer) Deploy(ctx context.Context) (*DeployResult, error) {
	var back plumbing.Hash // a source commit found older than the deployed one
	for attempt := 1; ; attempt++ {
		res, err := d.try(ctx, back)
		var older *olderSourceError
		if errors.As(err, &older) {
			back = older.source
		}
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
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
	return fmt.Sprintf("deploy branch already holds a newer source than %s", short(e.source))
}

func (e *olderSourceError) Unwrap() error { return ErrConflict }

// try deploys once; back is a source commit that an earlier try found
// older than the deployed one, which is deployed if read again.
func (d *Deployer) try(ctx context.Context, back plumbing.Hash) (*DeployResult, error) {
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
		return nil, fmt.Errorf("compile %s: %w", short(src.Hash), err)
	}
	res := &DeployResult{SourceCommit: src.Hash.String(), Build: build}

	t := d.target
	t.mu.Lock()
	defer t.mu.Unlock()
	head, err := t.Branch(d.opts.Branch)
	if err != nil {
		return nil, err
	}
	tree, err := t.writeFiles(build.Tree)
	if err != nil {
		return nil, fmt.Errorf("write deploy tree: %w", err)
	}
	if !head.IsZero() {
		prev, err := t.commit(head)
		if err != nil {
			return nil, err
		}
		if src.Hash != back && d.newerDeployed(src, prev) {
			return nil, &olderSourceError{source: src.Hash}
		}
		if prev.TreeHash == tree {
			res.DeployCommit = head.String()
			d.remember(res)
			return res, nil
		}
	}
	msg := deployMessage(src)
	h, err := t.storeCommit(tree, head, d.opts.Author, msg)
	if err != nil {
		return nil, err
	}
	if err := t.setBranch(ctx, d.opts.Branch, head, h); err != nil {
		return nil, err
	}
	res.DeployCommit, res.Committed = h.String(), true
	d.remember(res)
	return res, nil
}

// current returns, as an uncommitted result, the last deploy this
// deployer made or found current when it compiled the same source commit
// and the deploy branch has not moved since: the same compiler would
// produce the same tree again. Otherwise it returns nil.
func (d *Deployer) current(src plumbing.Hash) *DeployResult {
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
	return &DeployResult{SourceCommit: last.SourceCommit, DeployCommit: last.DeployCommit, Build: last.Build}
}

func (d *Deployer) remember(res *DeployResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = res
}

// newerDeployed reports whether the deploy commit prev was compiled from a
// descendant of src: then src was read before another deployer read a newer
// source, and deploying it would take the cluster back.
func (d *Deployer) newerDeployed(src, prev *object.Commit) bool {
	hs := SourceCommit(prev)
	if hs.IsZero() || hs == src.Hash {
		return false
	}
	deployed, err := d.source.repo.CommitObject(hs)
	if err != nil {
		return false // not in this history (a force push): deploy what is there
	}
	newer, err := src.IsAncestor(deployed)
	return err == nil && newer
}

// deployMessage names the source commit in the subject and in a trailer.
func deployMessage(src *object.Commit) string {
	subject, _, _ := strings.Cut(strings.TrimSpace(src.Message), "\n")
	return fmt.Sprintf("Deploy %s: %s\n\n%s: %s\n", src.Hash.String()[:12], subject, SourceCommitTrailer, src.Hash)
}

// SourceCommit returns the source commit a deploy commit names, or the
// zero hash when it names none.
func SourceCommit(c *object.Commit) plumbing.Hash {
	for _, line := range strings.Split(c.Message, "\n") {
		if v, ok := strings.CutPrefix(line, SourceCommitTrailer+": "); ok {
			return plumbing.NewHash(strings.TrimSpace(v))
		}
	}
	return plumbing.ZeroHash
}

// DeployRecord is one commit of the deploy branch.
type DeployRecord struct {
	DeployCommit string    `json:"deploy_commit"`
	SourceCommit string    `json:"source_commit"`
	Time         time.Time `json:"time"`
	Subject      string    `json:"subject"`
}

// History lists the deploy branch's commits, newest first, at most limit.
func (r *Repo) History(branch string, limit int) ([]DeployRecord, error) {
	h, err := r.Branch(branch)
	if err != nil || h.IsZero() {
		return nil, err
	}
	var out []DeployRecord
	for !h.IsZero() && len(out) < limit {
		c, err := r.commit(h)
		if err != nil {
			return nil, err
		}
		subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		rec := DeployRecord{DeployCommit: c.Hash.String(), Time: c.Committer.When.UTC(), Subject: subject}
		if s := SourceCommit(c); !s.IsZero() {
			rec.SourceCommit = s.String()
		}
		out = append(out, rec)
		h = plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			h = c.ParentHashes[0]
		}
	}
	return out, nil
}
