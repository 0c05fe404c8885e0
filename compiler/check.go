package compiler

import (
	"fmt"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build runs kustomize over the directory dir of the tree, in memory, the
// way `kustomize build` (and Flux) would, and returns the number of
// objects it yields.
func (t Tree) Build(dir string) (int, error) {
	fsys := filesys.MakeFsInMemory()
	for p, b := range t {
		if err := fsys.WriteFile(path.Join("/", p), b); err != nil {
			return 0, fmt.Errorf("kustomize %s: %w", dir, err)
		}
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(fsys, path.Join("/", dir))
	if err != nil {
		return 0, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return res.Size(), nil
}
