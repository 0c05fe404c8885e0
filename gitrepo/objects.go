package gitrepo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Signature names who makes a commit.
type Signature struct {
	Name  string
	Email string
}

func (s Signature) at(t time.Time) object.Signature {
	return object.Signature{Name: s.Name, Email: s.Email, When: t}
}

// store writes an object unless the repository has it, and returns its
// hash. Callers hold r.mu.
func (r *Repo) store(typ plumbing.ObjectType, encode func(plumbing.EncodedObject) error) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	obj.SetType(typ)
	if err := encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode %s: %w", typ, err)
	}
	h := obj.Hash()
	if r.known[h] {
		return h, nil
	}
	if r.repo.Storer.HasEncodedObject(h) != nil {
		if _, err := r.repo.Storer.SetEncodedObject(obj); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("write %s %s: %w", typ, h, err)
		}
	}
	r.known[h] = true
	return h, nil
}

func (r *Repo) storeBlob(content []byte) (plumbing.Hash, error) {
	return r.store(plumbing.BlobObject, func(o plumbing.EncodedObject) error {
		w, err := o.Writer()
		if err != nil {
			return err
		}
		if _, err := w.Write(content); err != nil {
			return err
		}
		return w.Close()
	})
}

func (r *Repo) storeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	sortEntries(entries)
	t := &object.Tree{Entries: entries}
	return r.store(plumbing.TreeObject, t.Encode)
}

// sortEntries orders tree entries as git does: by name, with directory
// names compared as if they ended in a slash.
func sortEntries(entries []object.TreeEntry) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
}

// writeFiles stores a whole tree of files given by slash-separated paths
// and returns the root tree's hash. Callers hold r.mu.
func (r *Repo) writeFiles(files map[string][]byte) (plumbing.Hash, error) {
	type dir struct {
		files map[string][]byte
		dirs  map[string]*dir
	}
	newDir := func() *dir { return &dir{files: map[string][]byte{}, dirs: map[string]*dir{}} }
	// Remember only this tree's slices, so that old contents can be freed.
	used := make(map[sliceKey]plumbing.Hash, len(files))
	defer func() { r.slices = used }()
	root := newDir()
	for p, b := range files {
		d := root
		parts := strings.Split(p, "/")
		for _, part := range parts[:len(parts)-1] {
			sub, ok := d.dirs[part]
			if !ok {
				sub = newDir()
				d.dirs[part] = sub
			}
			d = sub
		}
		d.files[parts[len(parts)-1]] = b
	}
	var write func(d *dir) (plumbing.Hash, error)
	write = func(d *dir) (plumbing.Hash, error) {
		entries := make([]object.TreeEntry, 0, len(d.files)+len(d.dirs))
		for name, b := range d.files {
			h, err := r.blobHash(b, used)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
		}
		for name, sub := range d.dirs {
			h, err := write(sub)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		}
		return r.storeTree(entries)
	}
	return write(root)
}

// blobHash stores a file's content and returns its hash. Content the
// compiler reused from an earlier build is the same slice, so its hash is
// remembered by the slice's address rather than computed again.
func (r *Repo) blobHash(b []byte, used map[sliceKey]plumbing.Hash) (plumbing.Hash, error) {
	if len(b) == 0 {
		return r.storeBlob(b)
	}
	key := sliceKey{&b[0], len(b)}
	h, ok := r.slices[key]
	if !ok {
		var err error
		if h, err = r.storeBlob(b); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	used[key] = h
	return h, nil
}

// sliceKey identifies a byte slice by its first byte and length.
type sliceKey struct {
	first *byte
	n     int
}

// setFile returns a copy of tree with the file at p set to blob (or
// removed when blob is the zero hash), storing the changed trees.
// Callers hold r.mu.
func (r *Repo) setFile(tree *object.Tree, p string, blob plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if tree != nil {
		entries = append(entries, tree.Entries...)
	}
	name, rest, nested := strings.Cut(p, "/")
	i, found := 0, false
	for j := range entries {
		if entries[j].Name == name {
			i, found = j, true
			break
		}
	}
	switch {
	case nested:
		var sub *object.Tree
		if found && entries[i].Mode == filemode.Dir {
			t, err := r.repo.TreeObject(entries[i].Hash)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", name, err)
			}
			sub = t
		}
		h, err := r.setFile(sub, rest, blob)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		e := object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		if found {
			entries[i] = e
		} else {
			entries = append(entries, e)
		}
	case blob.IsZero():
		if found {
			entries = append(entries[:i], entries[i+1:]...)
		}
	default:
		e := object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blob}
		if found {
			entries[i] = e
		} else {
			entries = append(entries, e)
		}
	}
	return r.storeTree(entries)
}

// storeCommit writes a commit of tree with the given parent (none when
// zero) and returns its hash. Callers hold r.mu.
func (r *Repo) storeCommit(tree, parent plumbing.Hash, sig Signature, message string) (plumbing.Hash, error) {
	return r.storeCommitAt(tree, parent, sig, sig, time.Now(), message)
}

// storeCommitAt is storeCommit with the commit's author, committer and
// time. Callers hold r.mu.
func (r *Repo) storeCommitAt(tree, parent plumbing.Hash, author, committer Signature, when time.Time, message string) (plumbing.Hash, error) {
	c := &object.Commit{
		Author:    author.at(when),
		Committer: committer.at(when),
		Message:   message,
		TreeHash:  tree,
	}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	return r.store(plumbing.CommitObject, c.Encode)
}

// ReplaceTree commits files as the whole tree of branch, on top of its
// head, and moves the branch by compare-and-swap (ErrConflict when it
// moved meanwhile). check, unless nil, is called with the branch's head
// commit, when the branch exists, and may refuse the commit by returning
// an error. No commit is made when the head already has this tree.
// refs, unless nil, is called with the commit the branch points at
// afterwards, new or not, and returns refs to move with it: a clone pushes
// them with the branch in one atomic push, each by compare-and-swap, so
// that its remote moves all or none and no ref moves for a head another
// writer replaced (when the branch stays, the push requires it at its
// head as the remote lists it); a local repository moves the branch, then
// the refs. ReplaceTree returns the branch's head afterwards and whether it
// committed.
func (r *Repo) ReplaceTree(ctx context.Context, branch string, files map[string][]byte, sig Signature, message string, check func(head *object.Commit) error, refs func(c *object.Commit) ([]RefMove, error)) (plumbing.Hash, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.Branch(branch)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	tree, err := r.writeFiles(files)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("write the tree of %s: %w", branch, err)
	}
	var prev *object.Commit
	if !head.IsZero() {
		if prev, err = r.commit(head); err != nil {
			return plumbing.ZeroHash, false, err
		}
		if check != nil {
			if err := check(prev); err != nil {
				return plumbing.ZeroHash, false, err
			}
		}
	}
	h, next := head, prev
	if prev == nil || prev.TreeHash != tree {
		if h, err = r.storeCommit(tree, head, sig, message); err != nil {
			return plumbing.ZeroHash, false, err
		}
		if next, err = r.commit(h); err != nil {
			return plumbing.ZeroHash, false, err
		}
	}
	var moves []RefMove
	if refs != nil {
		if moves, err = refs(next); err != nil {
			return plumbing.ZeroHash, false, err
		}
	}
	if err := r.update(ctx, branch, head, h, moves); err != nil {
		return plumbing.ZeroHash, false, err
	}
	return h, h != head, nil
}
