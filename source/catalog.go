package source

import (
	"crypto/sha256"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/slipway-gitops/slipway/workflow"
	"github.com/slipway-gitops/slipway/workflow/plugins"
)

// catalog is the plugin catalog of a repository: the built-in one with
// the plugins the repository defines in plugins/<id>.json.
type catalog struct {
	plugins *plugins.Catalog
	// sum is the digest of the plugin files: it is part of the cache key
	// of every workflow, since the definitions decide how plugin nodes
	// decode.
	sum [sha256.Size]byte
	// invalid holds, by path, the problems of the plugin files that did
	// not parse; their plugins are left out of the catalog.
	invalid map[string]workflow.Errors
}

// pluginCatalog builds the plugin catalog of files.
func pluginCatalog(files Files) *catalog {
	var paths []string
	for p := range files {
		if workflow.IsPluginFile(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	c := &catalog{}
	sum := sha256.New()
	var defs []plugins.Plugin
	for _, p := range paths {
		fmt.Fprintf(sum, "%s\x00%d\x00%s", p, len(files[p]), files[p])
		def, err := plugins.Parse(files[p])
		var problem *workflow.Error
		switch {
		case err != nil:
			problem = &workflow.Error{File: p, Message: err.Error()}
		case def.ID != stem(p):
			problem = &workflow.Error{File: p, Pointer: "/id", Message: fmt.Sprintf("%q must equal the file name %q", def.ID, stem(p))}
		default:
			defs = append(defs, def)
			continue
		}
		if c.invalid == nil {
			c.invalid = map[string]workflow.Errors{}
		}
		c.invalid[p] = workflow.Errors{problem}
	}
	sum.Sum(c.sum[:0])
	c.plugins = plugins.BuiltIn().With(defs...)
	return c
}

// stem returns the file name of p without its extension.
func stem(p string) string { return strings.TrimSuffix(path.Base(p), path.Ext(p)) }

// Plugins returns the plugin catalog of files: the built-in plugins with
// those the repository's valid plugin files define.
func Plugins(files Files) *plugins.Catalog { return pluginCatalog(files).plugins }
