package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	gitobject "github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/gitrepo"
)

// maxTrees bounds the trees a DeployHead remembers; a full memory starts
// again empty.
const maxTrees = 4096

// DeployHead is a HeadResolver: a Resolver that also compares a
// workflow's tree (workflows/<name>/ of the deploy branch) at the branch's
// head with the one at a deploy commit Flux applied. The head is read from
// the repository as it was last fetched.
type DeployHead struct {
	Resolver
	repo   *gitrepo.Repo
	branch string

	mu    sync.Mutex
	trees map[string]plumbing.Hash // commit/workflow → tree hash
}

// WithDeployHead returns r with the head of branch of repo to compare with.
func WithDeployHead(r Resolver, repo *gitrepo.Repo, branch string) *DeployHead {
	return &DeployHead{Resolver: r, repo: repo, branch: branch, trees: map[string]plumbing.Hash{}}
}

// Ahead returns the deploy branch head when workflow's tree there differs
// from the one at deployCommit, and "" when it does not. A workflow that
// is in neither has the same (empty) tree in both.
func (d *DeployHead) Ahead(_ context.Context, deployCommit, workflow string) (string, error) {
	head, err := d.repo.Branch(d.branch)
	if err != nil || head.IsZero() || head.String() == deployCommit {
		return "", err
	}
	at, err := d.tree(head.String(), workflow)
	if err != nil {
		return "", err
	}
	live, err := d.tree(deployCommit, workflow)
	if err != nil {
		return "", err
	}
	if at == live {
		return "", nil
	}
	return head.String(), nil
}

// tree returns the hash of workflows/<workflow> at commit, the zero hash
// when there is none; commits never change, so hashes are remembered.
func (d *DeployHead) tree(commit, workflow string) (plumbing.Hash, error) {
	key := commit + "/" + workflow
	d.mu.Lock()
	h, ok := d.trees[key]
	d.mu.Unlock()
	if ok {
		return h, nil
	}
	c, err := d.repo.Resolve(commit)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	root, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("deploy commit %s: %w", commit, err)
	}
	e, err := root.FindEntry("workflows/" + workflow)
	switch {
	case errors.Is(err, gitobject.ErrEntryNotFound), errors.Is(err, gitobject.ErrDirectoryNotFound):
		h = plumbing.ZeroHash
	case err != nil:
		return plumbing.ZeroHash, fmt.Errorf("deploy commit %s: workflows/%s: %w", commit, workflow, err)
	default:
		h = e.Hash
	}
	d.mu.Lock()
	if len(d.trees) >= maxTrees {
		d.trees = map[string]plumbing.Hash{}
	}
	d.trees[key] = h
	d.mu.Unlock()
	return h, nil
}
