package gitrepo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/workflow"
)

// Trailers of the commits that make versions.
const (
	// WorkflowTrailer names the workflow a commit makes a version of.
	WorkflowTrailer = "Workflow"
	// KubeOrchVersionTrailer, with a WorkflowTrailer, marks a commit
	// imported from KubeOrch as version N of the workflow, KubeOrch's
	// number, even when it leaves the file as it was: KubeOrch makes a
	// version on every run, whether the canvas changed or not.
	KubeOrchVersionTrailer = "KubeOrch-Version"
)

// Version is one version of a workflow: a commit that changed its file, or
// one imported from KubeOrch as a version of it (KubeOrchVersionTrailer).
type Version struct {
	// Number counts versions from the oldest, 1.
	Number  int       `json:"version"`
	Commit  string    `json:"commit"`
	Author  string    `json:"author"`
	Email   string    `json:"email"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`

	blob plumbing.Hash
	// kubeorch is the KubeOrchVersionTrailer's number, or 0.
	kubeorch int
}

// Versions lists the versions of workflow name on branch (or any
// revision), oldest first. The history is followed along first parents, so
// a merged pull request is one version. A commit that deletes the file is
// not a version; a commit that creates it again continues the numbering.
//
// Versions are numbered from 1, each one more than the one before, except
// that a commit imported from KubeOrch keeps KubeOrch's number (from its
// KubeOrchVersionTrailer) when that is higher: numbers KubeOrch's import
// did not include are skipped, and after an import, versions, Show,
// Compare and Restore speak of KubeOrch's numbers.
func (r *Repo) Versions(ctx context.Context, rev, name string) ([]Version, error) {
	all, err := r.versionsOf(ctx, rev, func(n string) bool { return n == name })
	if err != nil {
		return nil, err
	}
	if len(all[name]) == 0 {
		return nil, fmt.Errorf("workflow %q has no versions on %s: %w", name, rev, ErrNotFound)
	}
	return all[name], nil
}

// AllVersions returns the versions of every workflow with a version on
// rev, by name, as Versions numbers them: the history is walked once for
// all of them, not once each.
func (r *Repo) AllVersions(ctx context.Context, rev string) (map[string][]Version, error) {
	return r.versionsOf(ctx, rev, func(string) bool { return true })
}

// versionsOf returns the versions of the workflows whose names want
// takes, by name, in one walk of rev's first parents.
func (r *Repo) versionsOf(ctx context.Context, rev string, want func(name string) bool) (map[string][]Version, error) {
	c, err := r.Resolve(rev)
	if err != nil {
		return nil, err
	}
	// Walking first parents, compare the workflows directory's tree first:
	// when it is unchanged, so are its files, and the big tree is not read.
	type state struct {
		dirTree plumbing.Hash
		// blobs are the workflow files' blobs by name; nil until read.
		blobs map[string]plumbing.Hash
	}
	look := func(c *object.Commit) (state, error) {
		root, err := r.repo.TreeObject(c.TreeHash)
		if err != nil {
			return state{}, err
		}
		var s state
		for _, e := range root.Entries {
			if e.Name == workflow.WorkflowsDir {
				s.dirTree = e.Hash
			}
		}
		return s, nil
	}
	fill := func(s *state) error {
		if s.blobs != nil {
			return nil
		}
		s.blobs = map[string]plumbing.Hash{}
		if s.dirTree.IsZero() {
			return nil
		}
		t, err := r.repo.TreeObject(s.dirTree)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			if n, ok := strings.CutSuffix(e.Name, ".json"); ok && e.Mode.IsFile() && want(n) {
				s.blobs[n] = e.Hash
			}
		}
		return nil
	}
	newestFirst := map[string][]Version{}
	cur, err := look(c)
	if err != nil {
		return nil, fmt.Errorf("versions on %s: %w", rev, err)
	}
	for c != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var parent *object.Commit
		var prev state
		if len(c.ParentHashes) > 0 {
			if parent, err = r.commit(c.ParentHashes[0]); err != nil {
				return nil, err
			}
			if prev, err = look(parent); err != nil {
				return nil, fmt.Errorf("versions on %s: %w", rev, err)
			}
		}
		importedName, imported := importedVersion(c.Message)
		changed := cur.dirTree != prev.dirTree
		if changed || imported > 0 {
			if err := fill(&cur); err != nil {
				return nil, fmt.Errorf("versions on %s: %w", rev, err)
			}
		}
		if changed {
			if err := fill(&prev); err != nil {
				return nil, fmt.Errorf("versions on %s: %w", rev, err)
			}
		} else {
			prev.blobs = cur.blobs // the same tree holds the same files
		}
		if changed || imported > 0 {
			for n, blob := range cur.blobs {
				kubeorch := 0
				if n == importedName {
					kubeorch = imported
				}
				if (changed && blob != prev.blobs[n]) || kubeorch > 0 {
					newestFirst[n] = append(newestFirst[n], Version{
						Commit: c.Hash.String(), Author: c.Author.Name, Email: c.Author.Email,
						Time: c.Author.When.UTC(), Message: strings.TrimSpace(c.Message), blob: blob, kubeorch: kubeorch,
					})
				}
			}
		}
		c, cur = parent, prev
	}
	out := make(map[string][]Version, len(newestFirst))
	for name, vs := range newestFirst {
		numbered := make([]Version, 0, len(vs))
		n := 0
		for _, v := range slices.Backward(vs) {
			n = max(n+1, v.kubeorch)
			v.Number = n
			numbered = append(numbered, v)
		}
		out[name] = numbered
	}
	return out, nil
}

// importedVersion returns the workflow and the KubeOrch version number
// the trailers of message give a commit, or 0.
func importedVersion(message string) (string, int) {
	t := trailers(message)
	n, err := strconv.Atoi(t[KubeOrchVersionTrailer])
	if t[WorkflowTrailer] == "" || err != nil || n < 1 {
		return "", 0
	}
	return t[WorkflowTrailer], n
}

// trailers returns the "Key: value" lines of a commit message's last
// paragraph, when it is not the subject: its trailers, as git reads them.
func trailers(message string) map[string]string {
	paras := strings.Split(strings.TrimSpace(message), "\n\n")
	if len(paras) < 2 {
		return nil
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(paras[len(paras)-1], "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil // not a trailer block
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// version returns version n of vs.
func version(vs []Version, name string, n int) (Version, error) {
	i, ok := slices.BinarySearchFunc(vs, n, func(v Version, n int) int { return cmp.Compare(v.Number, n) })
	if !ok {
		return Version{}, fmt.Errorf("workflow %q has no version %d; its versions are %s: %w", name, n, numbers(vs), ErrNotFound)
	}
	return vs[i], nil
}

// numbers lists the numbers of vs as ranges, such as "1..3, 5..9".
func numbers(vs []Version) string {
	var parts []string
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1].Number == vs[j].Number+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(vs[i].Number))
		} else {
			parts = append(parts, fmt.Sprintf("%d..%d", vs[i].Number, vs[j].Number))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// Show returns the file content of version n of workflow name.
func (r *Repo) Show(ctx context.Context, rev, name string, n int) ([]byte, Version, error) {
	vs, err := r.Versions(ctx, rev, name)
	if err != nil {
		return nil, Version{}, err
	}
	v, err := version(vs, name, n)
	if err != nil {
		return nil, Version{}, err
	}
	b, err := r.readBlob(v.blob)
	if err != nil {
		return nil, Version{}, fmt.Errorf("read version %d of %s: %w", n, name, err)
	}
	return b, v, nil
}

// Content returns the file content of a version that Versions listed.
func (r *Repo) Content(v Version) ([]byte, error) {
	b, err := r.readBlob(v.blob)
	if err != nil {
		return nil, fmt.Errorf("read version %d: %w", v.Number, err)
	}
	return b, nil
}

// Compare returns what changed in workflow name from version v1 to v2.
func (r *Repo) Compare(ctx context.Context, rev, name string, v1, v2 int) (*workflow.GraphDiff, error) {
	vs, err := r.Versions(ctx, rev, name)
	if err != nil {
		return nil, err
	}
	graph := func(n int) (*workflow.Graph, error) {
		v, err := version(vs, name, n)
		if err != nil {
			return nil, err
		}
		b, err := r.readBlob(v.blob)
		if err != nil {
			return nil, err
		}
		g, err := workflow.ParseGraph(b)
		if err != nil {
			return nil, fmt.Errorf("version %d of %s: %w", n, name, err)
		}
		return g, nil
	}
	// Parsing is most of the work: parse both versions at once.
	var b *workflow.Graph
	var errB error
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, errB = graph(v2)
	}()
	a, errA := graph(v1)
	<-done
	if err := errors.Join(errA, errB); err != nil {
		return nil, err
	}
	return workflow.Diff(a, b), nil
}

// Restore writes version n of workflow name as a new commit on branch,
// "Restore <name> to version <n>", and returns it; ErrUnchanged when the
// branch has that content already. After an import from KubeOrch, n is
// KubeOrch's number of the version. When branch is checked out in a local
// repository, its working tree must be clean and is updated.
func (r *Repo) Restore(ctx context.Context, branch, name string, n int, sig Signature) (*object.Commit, error) {
	content, _, err := r.Show(ctx, branch, name, n)
	if err != nil {
		return nil, err
	}
	c, err := r.EditFile(ctx, branch, workflow.WorkflowFile(name), sig, fmt.Sprintf("Restore %s to version %d\n", name, n),
		func(*object.Commit, []byte) ([]byte, error) { return content, nil })
	if err != nil {
		return nil, fmt.Errorf("restore %s to version %d: %w", name, n, err)
	}
	return c, nil
}
