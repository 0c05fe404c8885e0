package source

import (
	"context"
	"crypto/sha256"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/slipway-gitops/slipway/internal/parallel"
	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/workflow"
)

// Repository is a workflows repository, decoded and checked as a whole.
type Repository struct {
	// Workflows are the workflows that decoded, in the order of their
	// files; Clusters likewise.
	Workflows []*workflow.Workflow
	Clusters  []*workflow.Cluster
	// Invalid holds, by path, the problems of the files that did not
	// decode, workflows, clusters and plugin definitions alike, but for
	// drafts.
	Invalid map[string]workflow.Errors
	// Drafts holds, by path, the problems of the draft workflows that did
	// not decode: warnings, since a draft is never deployed and never
	// stops the others from building.
	Drafts map[string]workflow.Errors
	// Decoded counts the workflow files this load decoded; the others
	// were unchanged since the Loader's previous load and reused.
	Decoded int

	// checked is the verdict of workflow.CheckSet on Workflows and
	// Clusters, and of sopsfile.Check on the encrypted Secret files.
	checked error
}

// Problems returns every problem of the repository: each invalid file's,
// then those of the repository-wide checks over the valid files.
func (r *Repository) Problems() workflow.Errors {
	var all workflow.Errors
	for _, p := range slices.Sorted(maps.Keys(r.Invalid)) {
		all = append(all, r.Invalid[p]...)
	}
	return append(all, workflow.AsErrors(r.checked)...)
}

// Err returns nil when the repository is valid. Otherwise it returns the
// problems of the files that did not decode, sorted, or, when every file
// decoded, those of the repository-wide checks (workflow.CheckSet): the
// latter are reported only of files that are valid on their own.
func (r *Repository) Err() error {
	var errs workflow.Errors
	for _, es := range r.Invalid {
		errs = append(errs, es...)
	}
	if len(errs) == 0 {
		return r.checked
	}
	errs.Sort()
	return errs
}

// Loader decodes and checks repositories. It remembers what it decoded,
// keyed by file content, so that loading the next commit decodes only the
// files that changed; an unchanged file yields the same *workflow.Workflow
// (or *workflow.Cluster) as before. A Loader is safe for concurrent use;
// loads run one at a time, since the repository-wide checks resolve
// values of the workflows they check (their cluster). The zero Loader is
// ready to use.
type Loader struct {
	mu    sync.Mutex
	cache map[string]*decoded
}

// decoded is a file's decoding, remembered by the digest of its content.
type decoded struct {
	sum     [sha256.Size]byte
	wf      *workflow.Workflow
	cluster *workflow.Cluster
	err     error
}

// Load builds the plugin catalog from the plugin files of files (the
// built-in plugins with the repository's), decodes every workflow and
// cluster file with it, in parallel, and runs the repository-wide checks
// over those that decoded, the encrypted Secret files' included
// (sopsfile.Check). A workflow is decoded again when its file or
// any plugin file changed. Problems in the files, plugin files
// included, are the Repository's (see Repository.Err), not Load's: Load
// fails only when ctx ends.
func (l *Loader) Load(ctx context.Context, files Files) (*Repository, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var paths []string
	for p := range files {
		if workflow.IsWorkflowFile(p) || workflow.IsClusterFile(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	cat := pluginCatalog(files)
	out := make([]*decoded, len(paths))
	fresh := make([]bool, len(paths))
	err := parallel.For(ctx, len(paths), func(i int) {
		p := paths[i]
		key := files[p]
		if workflow.IsWorkflowFile(p) {
			key = slices.Concat(cat.sum[:], files[p])
		}
		sum := sha256.Sum256(key)
		if d := l.cache[p]; d != nil && d.sum == sum {
			out[i] = d
			return
		}
		d := &decoded{sum: sum}
		if workflow.IsWorkflowFile(p) {
			d.wf, d.err = workflow.DecodeWith(p, files[p], cat.plugins)
		} else {
			d.cluster, d.err = workflow.DecodeCluster(p, files[p])
		}
		out[i], fresh[i] = d, true
	})
	if err != nil {
		return nil, err
	}
	repo := &Repository{Invalid: cat.invalid}
	next := make(map[string]*decoded, len(paths))
	for i, d := range out {
		next[paths[i]] = d
		if fresh[i] && workflow.IsWorkflowFile(paths[i]) {
			repo.Decoded++
		}
		switch {
		case d.err != nil && workflow.IsWorkflowFile(paths[i]) && workflow.FileStatus(files[paths[i]]) == workflow.StatusDraft:
			if repo.Drafts == nil {
				repo.Drafts = map[string]workflow.Errors{}
			}
			repo.Drafts[paths[i]] = workflow.AsErrors(d.err)
		case d.err != nil:
			if repo.Invalid == nil {
				repo.Invalid = map[string]workflow.Errors{}
			}
			repo.Invalid[paths[i]] = workflow.AsErrors(d.err)
		case d.wf != nil:
			repo.Workflows = append(repo.Workflows, d.wf)
		default:
			repo.Clusters = append(repo.Clusters, d.cluster)
		}
	}
	l.cache = next
	problems := workflow.AsErrors(workflow.CheckSet(repo.Workflows, repo.Clusters))
	if secrets := sopsfile.Check(files, repo.Workflows, repo.Clusters); secrets != nil {
		problems = append(problems, secrets...)
		problems.Sort()
	}
	if problems != nil {
		repo.checked = problems
	}
	return repo, nil
}
