package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// maxFileSize bounds what is read of one source file.
const maxFileSize = workflow.MaxFileSize + 1

// Source reads the workflow and cluster files of a commit. Contents are
// remembered by blob hash, so reading the next commit reads only the files
// that changed.
func (r *Repo) Source(c *object.Commit) (source.Files, error) { return r.SourceAt(c, "") }

// SourceAt reads the workflow and cluster files of a commit from the
// directory dir of the repository ("" or "." for its root), as Source does.
func (r *Repo) SourceAt(c *object.Commit, dir string) (source.Files, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	if dir = path.Clean("/" + dir)[1:]; dir != "" {
		if tree, err = tree.Tree(dir); err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", dir, c.Hash, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[plumbing.Hash][]byte, len(r.blobs))
	src := source.Files{}
	var links workflow.Errors
	var budget source.Budget
	for _, dir := range source.Dirs() {
		// A directory committed as a link is refused, as on disk; read
		// as absent it would deploy nothing and prune everything.
		if e, err := tree.FindEntry(dir); err == nil && e.Mode == filemode.Symlink {
			links = append(links, source.SymlinkError(dir))
			continue
		}
		sub, err := tree.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", dir, c.Hash, err)
		}
		for _, e := range sub.Entries {
			mode, err := e.Mode.ToOSFileMode()
			if err != nil {
				continue // a mode git does not know: not a file
			}
			ok, err := source.IsFile(dir, e.Name, mode)
			if err != nil {
				links = append(links, workflow.AsErrors(err)...)
			}
			if !ok {
				continue
			}
			p := dir + "/" + e.Name
			b, err := r.readWithin(&budget, p, e.Hash)
			if err != nil {
				return nil, fmt.Errorf("read %s of %s: %w", p, c.Hash, err)
			}
			if b != nil {
				seen[e.Hash] = b
				src[p] = b
			}
		}
	}
	secrets, err := r.secretsOf(tree, c, seen, src, &budget)
	if err != nil {
		return nil, err
	}
	links = append(links, secrets...)
	links = append(links, budget.Problems()...)
	if links != nil {
		return nil, links
	}
	r.blobs = seen
	return src, nil
}

// secretsOf reads into src the encrypted Secret files of tree,
// secrets/<workflow>/<secret>.sops.yaml, as SourceAt reads the others,
// within budget, and returns the links it refused. r.mu is held.
func (r *Repo) secretsOf(tree *object.Tree, c *object.Commit, seen map[plumbing.Hash][]byte, src source.Files, budget *source.Budget) (workflow.Errors, error) {
	if e, err := tree.FindEntry(workflow.SecretsDir); err == nil && e.Mode == filemode.Symlink {
		return workflow.Errors{source.SymlinkError(workflow.SecretsDir)}, nil
	}
	secrets, err := tree.Tree(workflow.SecretsDir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", workflow.SecretsDir, c.Hash, err)
	}
	var links workflow.Errors
	for _, d := range secrets.Entries {
		dir := workflow.SecretsDir + "/" + d.Name
		if d.Mode == filemode.Symlink {
			links = append(links, source.SymlinkError(dir))
			continue
		}
		if d.Mode != filemode.Dir {
			continue
		}
		sub, err := secrets.Tree(d.Name)
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", dir, c.Hash, err)
		}
		for _, e := range sub.Entries {
			p := dir + "/" + e.Name
			switch {
			case !workflow.IsSopsFile(p):
				continue
			case e.Mode == filemode.Symlink:
				links = append(links, source.SymlinkError(p))
				continue
			case !e.Mode.IsFile():
				continue
			}
			b, err := r.readWithin(budget, p, e.Hash)
			if err != nil {
				return nil, fmt.Errorf("read %s of %s: %w", p, c.Hash, err)
			}
			if b != nil {
				seen[e.Hash] = b
				src[p] = b
			}
		}
	}
	return links, nil
}

// readWithin reads the blob h of the file at p if budget takes its size,
// from the blobs remembered when it can; nil when the budget refuses it.
// r.mu is held.
func (r *Repo) readWithin(budget *source.Budget, p string, h plumbing.Hash) ([]byte, error) {
	if b, ok := r.blobs[h]; ok {
		if !budget.Take(p, int64(len(b))) {
			return nil, nil
		}
		return b, nil
	}
	size, err := r.repo.Storer.EncodedObjectSize(h)
	if err != nil {
		return nil, err
	}
	if !budget.Take(p, size) {
		return nil, nil
	}
	return r.readBlob(h)
}

func (r *Repo) readBlob(h plumbing.Hash) ([]byte, error) {
	// The size comes from the object's header: a packed blob is inflated
	// whole when it is opened, so a huge one must be refused before.
	size, err := r.repo.Storer.EncodedObjectSize(h)
	if err != nil {
		return nil, err
	}
	if size >= maxFileSize {
		return nil, fmt.Errorf("blob %s is %d bytes, larger than %d", h, size, workflow.MaxFileSize)
	}
	blob, err := r.repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	b, err := io.ReadAll(io.LimitReader(rd, maxFileSize))
	if err != nil {
		return nil, err
	}
	if len(b) == maxFileSize {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", h, workflow.MaxFileSize)
	}
	return b, nil
}

// fileAt returns the blob hash of a path in a commit, or the zero hash
// when the commit has no such file.
func fileAt(c *object.Commit, p string) (plumbing.Hash, error) {
	tree, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	e, err := tree.FindEntry(p)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if !e.Mode.IsFile() {
		return plumbing.ZeroHash, nil
	}
	return e.Hash, nil
}
