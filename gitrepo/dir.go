package gitrepo

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// Dir reads the files directly in directory dir of a commit, by name; a
// commit without the directory gives none.
func (r *Repo) Dir(c *object.Commit, dir string) (map[string][]byte, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	sub, err := tree.Tree(dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", dir, c.Hash, err)
	}
	out := make(map[string][]byte, len(sub.Entries))
	for _, e := range sub.Entries {
		if !e.Mode.IsFile() {
			continue
		}
		b, err := r.readBlob(e.Hash)
		if err != nil {
			return nil, fmt.Errorf("read %s/%s of %s: %w", dir, e.Name, c.Hash, err)
		}
		out[e.Name] = b
	}
	return out, nil
}

// Subdirs lists the directories directly in dir of a commit.
func (r *Repo) Subdirs(c *object.Commit, dir string) ([]string, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	sub, err := tree.Tree(dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", dir, c.Hash, err)
	}
	var out []string
	for _, e := range sub.Entries {
		if !e.Mode.IsFile() {
			out = append(out, e.Name)
		}
	}
	return out, nil
}
