// Package source is the one place that knows a workflows repository's
// layout and loads it: which files are workflows, clusters and plugin
// definitions (workflow.WorkflowsDir, workflow.ClustersDir,
// workflow.PluginsDir), reading them from a directory (ReadDir; gitrepo
// reads them from a commit), and decoding and checking them all together
// (Loader). The compiler, the service's API
// and the review all load a repository through it, so they agree on what
// is valid.
package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/slipway-gitops/slipway/workflow"
)

// Files is the content of a workflows repository: file contents by
// slash-separated path. Only the files of Dirs and the encrypted Secrets
// under workflow.SecretsDir (workflow.IsSopsFile) matter.
type Files map[string][]byte

// Dirs returns the directories of a repository that hold its files, each
// one file a workflow, cluster or plugin definition: workflows/,
// clusters/ and plugins/.
func Dirs() []string {
	return []string{workflow.WorkflowsDir, workflow.ClustersDir, workflow.PluginsDir}
}

// IsFile reports whether a file named name in the repository directory
// dir, of the given type, belongs to the repository's Files. A symbolic
// link is an error (SymlinkError), not followed: it could read outside
// the repository. Other files that are not regular are skipped.
func IsFile(dir, name string, mode fs.FileMode) (bool, error) {
	p := path.Join(dir, name)
	switch {
	case path.Ext(p) != ".json":
		return false, nil
	case mode&fs.ModeSymlink != 0:
		return false, SymlinkError(p)
	}
	return mode.IsRegular(), nil
}

// ReadDir reads the workflow, cluster and plugin files of a repository
// checked out in fsys. A file or one of Dirs that is a symbolic link is
// refused (SymlinkError), not followed, when fsys can tell links
// (fs.ReadLinkFS, as os.DirFS does).
func ReadDir(fsys fs.FS) (Files, error) {
	files := Files{}
	var links workflow.Errors
	var budget Budget
	for _, dir := range Dirs() {
		fi, err := fs.Lstat(fsys, dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("read source: %w", err)
		case fi.Mode()&fs.ModeSymlink != 0:
			links = append(links, SymlinkError(dir))
			continue
		}
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return nil, fmt.Errorf("read source: %w", err)
		}
		for _, e := range entries {
			ok, err := IsFile(dir, e.Name(), e.Type())
			if err != nil {
				links = append(links, workflow.AsErrors(err)...)
			}
			if !ok {
				continue
			}
			p := path.Join(dir, e.Name())
			b, err := readFile(fsys, p, &budget)
			if err != nil {
				return nil, fmt.Errorf("read source: %w", err)
			}
			if b != nil {
				files[p] = b
			}
		}
	}
	secrets, err := readSecrets(fsys, files, &budget)
	if err != nil {
		return nil, err
	}
	links = append(links, secrets...)
	links = append(links, budget.Problems()...)
	if links != nil {
		return nil, links
	}
	return files, nil
}

// readFile reads the file at p within budget: nil when the budget refuses
// it. The file is read no further than its size when budgeted, in case
// it grows meanwhile.
func readFile(fsys fs.FS, p string, budget *Budget) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !budget.Take(p, fi.Size()) {
		return nil, nil
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

// readSecrets reads into files the encrypted Secret files of fsys,
// secrets/<workflow>/<secret>.sops.yaml, within budget, and returns the
// links it refused.
func readSecrets(fsys fs.FS, files Files, budget *Budget) (workflow.Errors, error) {
	fi, err := fs.Lstat(fsys, workflow.SecretsDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read source: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return workflow.Errors{SymlinkError(workflow.SecretsDir)}, nil
	}
	var links workflow.Errors
	err = fs.WalkDir(fsys, workflow.SecretsDir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.Type()&fs.ModeSymlink != 0:
			links = append(links, SymlinkError(p))
			return nil
		case d.IsDir() && strings.Count(p, "/") > 1:
			return fs.SkipDir
		case !d.Type().IsRegular() || !workflow.IsSopsFile(p):
			return nil
		}
		b, err := readFile(fsys, p, budget)
		if b != nil {
			files[p] = b
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	return links, nil
}

// SymlinkError is the problem of a workflow, cluster or plugin file at p,
// or of one of Dirs, that is a symbolic link. Sources are regular files
// in directories of the repository only, read from a checkout or from
// git alike, so that a link cannot reach outside the repository.
func SymlinkError(p string) *workflow.Error {
	return &workflow.Error{File: p, Message: "is a symbolic link; workflow, cluster and plugin files and their directories must be in the repository, not links"}
}
