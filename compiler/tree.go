package compiler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/slipway-gitops/slipway/internal/parallel"
)

// Tree is a deploy tree: file contents by slash-separated path.
type Tree map[string][]byte

// Paths returns the tree's paths in sorted order.
func (t Tree) Paths() []string {
	return slices.Sorted(maps.Keys(t))
}

// add marshals typed values into the file at p, one document each.
func (t Tree) add(source, p string, vs ...any) error {
	b, err := marshalAll(source, vs...)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	t[p] = b
	return nil
}

// addKustomization writes dir/kustomization.yaml.
func (t Tree) addKustomization(source, dir string, k types.Kustomization) error {
	k.APIVersion = types.KustomizationVersion
	k.Kind = types.KustomizationKind
	return t.add(source, kustomizationFile(dir), k)
}

// merge copies every file of o into t.
func (t Tree) merge(o Tree) {
	for p, b := range o {
		t[p] = b
	}
}

// managedDirs are the top-level directories a deploy tree owns.
var managedDirs = []string{"clusters", "workflows"}

// WriteDir writes the tree into dir. The tree's top-level directories
// (clusters/ and workflows/) are built beside the old ones and swapped in
// by rename, so a failure leaves the old tree in place and stale files of
// removed workflows disappear. Other entries of dir are left alone.
func (t Tree) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write deploy tree: %w", err)
	}
	stage, err := os.MkdirTemp(dir, ".slipway-stage-")
	if err != nil {
		return fmt.Errorf("write deploy tree: %w", err)
	}
	defer os.RemoveAll(stage)
	paths := t.Paths()
	dirs := map[string]bool{}
	for _, p := range paths {
		if !managedPath(p) {
			return fmt.Errorf("write deploy tree: %s is outside %s", p, strings.Join(managedDirs, ", "))
		}
		dirs[path.Dir(p)] = true
	}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(stage, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("write deploy tree: %w", err)
		}
	}
	// Writes wait on the disk more than on the CPU: overlap them.
	errs := make([]error, len(paths))
	if err := parallel.ForN(context.Background(), 8, len(paths), func(i int) {
		errs[i] = os.WriteFile(filepath.Join(stage, filepath.FromSlash(paths[i])), t[paths[i]], 0o644)
	}); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write deploy tree: %w", err)
	}
	old := filepath.Join(stage, ".old")
	if err := os.Mkdir(old, 0o755); err != nil {
		return fmt.Errorf("write deploy tree: %w", err)
	}
	for _, d := range managedDirs {
		cur, next := filepath.Join(dir, d), filepath.Join(stage, d)
		if err := os.Rename(cur, filepath.Join(old, d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write deploy tree: %w", err)
		}
		if err := os.Rename(next, cur); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write deploy tree: %w", err)
		}
	}
	return nil
}

func managedPath(p string) bool {
	for _, d := range managedDirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// ReadDir reads the deploy tree under dir (its clusters/ and workflows/).
func ReadDir(dir string) (Tree, error) {
	t := Tree{}
	for _, d := range managedDirs {
		root := filepath.Join(dir, d)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			t[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read deploy tree: %w", err)
		}
	}
	return t, nil
}
