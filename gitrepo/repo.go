package gitrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Errors callers can test for with errors.Is.
var (
	// ErrConflict means a branch moved while it was being updated.
	ErrConflict = errors.New("branch moved concurrently")
	// ErrNotFound means a workflow, version or ref does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDirtyWorktree means a checked-out branch has uncommitted changes.
	ErrDirtyWorktree = errors.New("working tree has uncommitted changes")
	// ErrUnavailable means the repository cannot be read: a local one is
	// gone, or a clone's remote does not answer.
	ErrUnavailable = errors.New("repository unavailable")
)

// Options configure how a repository is opened.
type Options struct {
	// CacheDir holds clones of remote repositories. It defaults to
	// $XDG_CACHE_HOME/slipway/repos.
	CacheDir string
	// Auth authenticates to remotes; nil for none.
	Auth transport.AuthMethod
}

// Repo is a workflows or deploy repository. It is safe for concurrent
// use by any number of goroutines, and so are the commits it returns:
// what is read through them is read through the Repo's storage, which
// serialises go-git's use of the repository's files. A tree, as go-git
// reads it, remembers the subtrees it looked up: one tree is for one
// goroutine at a time.
type Repo struct {
	repo   *git.Repository
	gitDir string
	// url is the remote a cached clone tracks; empty for a local repository.
	url  string
	auth transport.AuthMethod
	// mu serialises writes from this process (other processes are kept out
	// by lock files or the remote's own compare-and-swap) and guards blobs.
	mu sync.Mutex
	// remote serialises fetches, and a push's update of the branch it
	// pushed: go-git moves a tracking ref by compare-and-swap against
	// what it read when its fetch began, and fails the fetch when another
	// moved it meanwhile. It is taken after mu, never before.
	remote sync.Mutex
	// blobs holds the source files last read, by blob hash.
	blobs map[plumbing.Hash][]byte
	// known holds objects this process wrote or found, so that they are
	// not looked up again.
	known map[plumbing.Hash]bool
	// slices holds the blob hashes of file contents by slice address.
	slices map[sliceKey]plumbing.Hash
}

// isURL reports whether source names a remote rather than a local path.
func isURL(source string) bool {
	if strings.Contains(source, "://") {
		return true
	}
	// scp-like syntax: user@host:path
	at, colon := strings.Index(source, "@"), strings.Index(source, ":")
	return at > 0 && colon > at && !strings.ContainsAny(source[:at], "/")
}

// Open opens a local repository (a path, bare or with a working tree) or
// clones a remote one (file://, http(s)://, ssh://, user@host:path) into
// the cache, fetching it when the clone exists.
func Open(ctx context.Context, source string, opts Options) (*Repo, error) {
	if !isURL(source) {
		r, err := git.PlainOpenWithOptions(source, &git.PlainOpenOptions{DetectDotGit: false})
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", source, err)
		}
		return newRepo(r, "", nil)
	}
	cache := opts.CacheDir
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
		cache = filepath.Join(base, "slipway", "repos")
	}
	sum := sha256.Sum256([]byte(source))
	dir := filepath.Join(cache, hex.EncodeToString(sum[:8])+".git")
	r, err := git.PlainOpen(dir)
	if err == nil && cacheIntact(r) != nil {
		// A process killed while it fetched can leave a ref file empty, as
		// go-git truncates it before it writes it. The cache is a copy of
		// the remote: it is cloned again rather than refused at every
		// start.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove the damaged cache of %s: %w", RedactCredentials(source), err)
		}
		r, err = nil, git.ErrRepositoryNotExists
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
		r, err = git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{URL: source, Auth: opts.Auth, Tags: git.NoTags})
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			r, err = initCache(dir, source)
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, remoteError(fmt.Errorf("clone %s: %w", source, err))
		}
	} else if err != nil {
		return nil, remoteError(fmt.Errorf("open cache of %s: %w", source, err))
	}
	repo, err := newRepo(r, source, opts.Auth)
	if err != nil {
		return nil, err
	}
	return repo, repo.Fetch(ctx)
}

// cacheIntact reports an error when a ref of the cache does not read.
func cacheIntact(r *git.Repository) error {
	_, err := r.References() // reads every ref
	return err
}

// initCache creates the cache of an empty remote repository.
func initCache(dir, url string) (*git.Repository, error) {
	r, err := git.PlainInit(dir, true)
	if err != nil {
		return nil, err
	}
	_, err = r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
	return r, err
}

// newRepo returns a Repo of r, a repository just opened, cloned or
// created, which nothing else uses: it is opened again on its storage
// made safe for concurrent use.
func newRepo(r *git.Repository, url string, auth transport.AuthMethod) (*Repo, error) {
	fs, ok := r.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("repository is not stored on disk")
	}
	storage := newLockedStorage(fs)
	wt, err := r.Worktree()
	switch {
	case errors.Is(err, git.ErrIsBareRepository):
		r, err = git.Open(storage, nil)
	case err == nil:
		r, err = git.Open(storage, wt.Filesystem)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", fs.Filesystem().Root(), err)
	}
	return &Repo{
		repo: r, gitDir: fs.Filesystem().Root(), url: url, auth: auth,
		known: map[plumbing.Hash]bool{}, slices: map[sliceKey]plumbing.Hash{},
	}, nil
}

// URL returns the remote of a cloned repository, or "" for a local one,
// with its credentials hidden: it is for messages.
func (r *Repo) URL() string { return RedactCredentials(r.url) }

// Fetch brings a cloned repository up to date with its remote; it does
// nothing for a local repository.
func (r *Repo) Fetch(ctx context.Context) error {
	if r.url == "" {
		return nil
	}
	r.remote.Lock()
	defer r.remote.Unlock()
	err := r.repo.FetchContext(ctx, &git.FetchOptions{
		// Force, not a "+" on the refspec: go-git's prune reverses the
		// refspec with the "+" inside, misses every branch on the remote
		// and removes all the tracking refs, to write them again after;
		// in between, a reader would find every branch gone.
		RefSpecs: []config.RefSpec{"refs/heads/*:refs/remotes/origin/*"},
		Auth:     r.auth,
		Tags:     git.NoTags,
		Prune:    true,
		Force:    true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return remoteError(fmt.Errorf("fetch %s: %w: %w", r.url, ErrUnavailable, err))
	}
	return nil
}

// Check reports, with ErrUnavailable, a local repository whose directory
// is gone: its refs would read as absent rather than fail. A clone's
// cache stays; Fetch checks its remote.
func (r *Repo) Check() error {
	if _, err := os.Stat(r.gitDir); err != nil {
		return fmt.Errorf("repository %s: %w: %w", r.gitDir, ErrUnavailable, err)
	}
	return nil
}

// branchRef is where a branch is read from: the remote-tracking ref of a
// clone, the branch itself in a local repository.
func (r *Repo) branchRef(branch string) plumbing.ReferenceName {
	if r.url != "" {
		return plumbing.NewRemoteReferenceName("origin", branch)
	}
	return plumbing.NewBranchReferenceName(branch)
}

// Branch returns the commit a branch points at, or the zero hash when the
// branch does not exist.
func (r *Repo) Branch(branch string) (plumbing.Hash, error) {
	ref, err := r.repo.Reference(r.branchRef(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read branch %s: %w", branch, err)
	}
	return ref.Hash(), nil
}

// Resolve turns a branch name, a full ref, a tag or a commit hash into a
// commit.
func (r *Repo) Resolve(rev string) (*object.Commit, error) {
	if h, err := r.Branch(rev); err == nil && !h.IsZero() {
		return r.commit(h)
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w: %w", rev, ErrNotFound, err)
	}
	return r.commit(*h)
}

func (r *Repo) commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := r.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// FetchPull fetches the head of pull request n (refs/pull/n/head) of a
// cloned repository's remote; it does nothing for a local repository,
// whose commits are all at hand.
func (r *Repo) FetchPull(ctx context.Context, n int) error {
	if r.url == "" {
		return nil
	}
	spec := config.RefSpec(fmt.Sprintf("+refs/pull/%d/head:refs/remotes/origin/pull/%d", n, n))
	r.remote.Lock()
	defer r.remote.Unlock()
	err := r.repo.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: r.auth, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return remoteError(fmt.Errorf("fetch pull request %d from %s: %w", n, r.url, err))
	}
	return nil
}

// Commit returns the commit h.
func (r *Repo) Commit(h plumbing.Hash) (*object.Commit, error) { return r.commit(h) }
