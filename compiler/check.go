package compiler

import (
	"fmt"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build runs kustomize over the directory dir of the tree, in memory, the
// way `kustomize build` (and Flux) would, and returns the number of
// objects it yields.
func (t Tree) Build(dir string) (int, error) {
	res, err := t.run(dir)
	if err != nil {
		return 0, err
	}
	return res.Size(), nil
}

// Kustomize runs kustomize over the directory dir of the tree, in memory,
// and returns the objects it yields as a YAML stream.
func (t Tree) Kustomize(dir string) ([]byte, error) {
	res, err := t.run(dir)
	if err != nil {
		return nil, err
	}
	y, err := res.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return y, nil
}

func (t Tree) run(dir string) (resmap.ResMap, error) {
	fsys := filesys.MakeFsInMemory()
	for p, b := range t {
		if err := fsys.WriteFile(path.Join("/", p), b); err != nil {
			return nil, fmt.Errorf("kustomize %s: %w", dir, err)
		}
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(fsys, path.Join("/", dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return res, nil
}
