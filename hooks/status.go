package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	gitobject "github.com/go-git/go-git/v5/plumbing/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// statusLease is the TTL of the status leader's session: a leader that
// dies without a word is replaced after at most this long.
const statusLease = 5 * time.Second

// Status record keys within the store's status prefix.
const (
	statusWorkflows = "workflows/"
	statusClusters  = "clusters/"
)

// ClusterStatus is a cluster as the status page shows it.
type ClusterStatus struct {
	Name string `json:"name"`
	// Watched is false when HOOKS_KUBECONFIG has no context for the
	// cluster: nothing is known of it, and it is never shown healthy.
	Watched bool `json:"watched"`
	// Reachable is true while the cluster's API server answers and the
	// watches have listed it, false once it stops answering, and left out
	// while that is not known: the cluster is not watched, or its watches
	// have not listed it yet.
	Reachable *bool `json:"reachable,omitempty"`
	watch.Result
	// Source is the GitRepository that fetches the deploy branch, and
	// Kustomization the one that applies the cluster's directory
	// (slipway-<cluster>, see compiler bootstrap); each is left out while
	// the cluster lacks it.
	Source        *watch.Readiness `json:"source,omitempty"`
	Kustomization *watch.Readiness `json:"kustomization,omitempty"`
	Workflows     []string         `json:"workflows"`
}

// ClusterStatuses returns the clusters' records, by name.
func (s *StatusAPI) ClusterStatuses(ctx context.Context) (map[string]ClusterStatus, error) {
	recs, _, err := s.Reader.Statuses(ctx, statusClusters)
	if err != nil {
		return nil, err
	}
	out := make(map[string]ClusterStatus, len(recs))
	for _, rec := range recs {
		var cs ClusterStatus
		if err := json.Unmarshal(rec.Value, &cs); err != nil {
			return nil, fmt.Errorf("status record %s: %w", rec.Key, err)
		}
		out[cs.Name] = cs
	}
	return out, nil
}

// StatusPublisherConfig configures a StatusPublisher.
type StatusPublisherConfig struct {
	Store *store.Store
	// Deploy holds DeployBranch, whose clusters/ directory says which
	// workflows each cluster runs; Source holds the workflows' versions.
	Deploy       *gitrepo.Repo
	DeployBranch string
	Source       *gitrepo.Repo
	// Contexts chooses the client configuration of each cluster it can
	// reach (watch.Contexts); those it leaves out are not watched.
	Contexts func(clusters []string) (map[string]*rest.Config, error)
	// FluxNamespaces are the namespaces whose Flux objects are Slipway's
	// (watch.WithFluxNamespaces): HOOKS_FLUX_SOURCE's, then, while they
	// move, HOOKS_FLUX_MOVE_FROM's. Empty, compiler.DefaultFluxNamespace
	// alone.
	FluxNamespaces []string
	ID             string
	Log            *slog.Logger
	// MinWrite is the least time between two writes of one record,
	// unless the workflow's sync state or live revision changed.
	MinWrite time.Duration
	// Refresh is how often the deploy branch is fetched for new clusters
	// and workflows.
	Refresh time.Duration
	// Compiler, with SourceBranch, compiles the source branch's head as
	// the deployer does: a workflow that the head renders as the live
	// deploy commit holds it is live at the head's version, though a
	// commit that changed only its description made no deploy commit.
	// Without it, the live version is the one a deploy commit's
	// Source-Commit names. The deployer's Compiler serves, and builds
	// little it has not built already.
	Compiler     *compiler.Compiler
	SourceBranch string
}

// StatusPublisher watches the clusters while its replica leads the
// "status" election and keeps one compact status record per workflow and
// per cluster in etcd, written only when it changes and at most once per
// MinWrite each, so that a flapping object cannot flood etcd. A workflow
// record whose sync state or live revision changed is written at once:
// those change only when Flux starts or finishes a revision, and are what
// a reader waits for after a push. Every replica serves reads from those
// records.
type StatusPublisher struct {
	StatusPublisherConfig
}

// NewStatusPublisher returns a StatusPublisher.
func NewStatusPublisher(cfg StatusPublisherConfig) (*StatusPublisher, error) {
	if cfg.Store == nil || cfg.Deploy == nil || cfg.Source == nil || cfg.DeployBranch == "" || cfg.Contexts == nil || cfg.ID == "" || cfg.Log == nil || cfg.Refresh <= 0 {
		return nil, errors.New("status publisher: a store, the repositories, the deploy branch, contexts, an id, a log and a refresh interval are required")
	}
	if cfg.Compiler != nil && cfg.SourceBranch == "" {
		return nil, errors.New("status publisher: a compiler needs the source branch it compiles")
	}
	if len(cfg.FluxNamespaces) == 0 {
		cfg.FluxNamespaces = []string{compiler.DefaultFluxNamespace}
	}
	return &StatusPublisher{cfg}, nil
}

// Run campaigns for the status election and publishes while it leads,
// campaigning again when its session is lost, until ctx ends.
func (p *StatusPublisher) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := p.lead(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("status watches stopped; campaigning again", slog.String("error", err.Error()))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// lead waits for leadership and publishes until ctx ends or the session
// is lost.
func (p *StatusPublisher) lead(ctx context.Context) error {
	sess, err := p.Store.NewSession(ctx, statusLease)
	if err != nil {
		return err
	}
	defer sess.Close(context.WithoutCancel(ctx))
	if _, err := sess.Campaign(ctx, "status", p.ID); err != nil {
		return err
	}
	p.Log.Info("leading the status watches", slog.String("replica", p.ID))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	return p.publish(ctx)
}

// publishState is what the leader remembers between rounds.
type publishState struct {
	written map[string][]byte    // key → last value written
	at      map[string]time.Time // key → time of that write
	// milestones holds, per workflow record, the milestone of the value
	// last written.
	milestones map[string]string
	clusters   map[string]*watch.Cluster
	layout     map[string][]string // cluster → workflows
	head       string
	// source is the source branch's head, read with the deploy branch.
	source plumbing.Hash
}

func (p *StatusPublisher) publish(ctx context.Context) error {
	st := &publishState{written: map[string][]byte{}, at: map[string]time.Time{}, milestones: map[string]string{}, clusters: map[string]*watch.Cluster{}}
	existing, _, err := p.Store.Statuses(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range existing {
		st.written[r.Key] = r.Value
	}
	changed := make(chan struct{}, 1)
	// The deploy branch head tells OutOfSync from Synced.
	git := newGitResolver(p.Deploy, p.Source)
	var base watch.Resolver = git
	live := &liveSource{gitResolver: git, compiler: p.Compiler, log: p.Log}
	if p.Compiler != nil {
		base = live
	}
	resolver := watch.WithDeployHead(base, p.Deploy, p.DeployBranch)
	drift := watch.NewFieldDrift(git)
	refresh := time.NewTicker(p.Refresh)
	defer refresh.Stop()
	var retry <-chan time.Time
	// The deploy branch is read at the start and every Refresh; cluster
	// changes only recompute the records.
	readLayout := true
	for {
		if readLayout {
			if err := p.readLayout(ctx, st, changed); err != nil {
				p.Log.Warn("read the deploy branch", slog.String("error", err.Error()))
			}
		}
		live.head = st.source
		wait := p.round(ctx, st, resolver, drift)
		retry = nil
		if wait > 0 {
			retry = time.After(wait)
		}
		readLayout = false
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-refresh.C:
			readLayout = true
		case <-retry:
		}
	}
}

// readLayout reads the source branch's head and, from the deploy branch
// head, which workflows each cluster runs, and starts watching clusters
// that have a context.
func (p *StatusPublisher) readLayout(ctx context.Context, st *publishState, changed chan struct{}) error {
	if err := p.Deploy.Fetch(ctx); err != nil {
		return err
	}
	// A source commit that renders nothing new moves the source branch
	// alone.
	if p.Source != p.Deploy {
		if err := p.Source.Fetch(ctx); err != nil {
			return err
		}
	}
	if p.Compiler != nil {
		src, err := p.Source.Branch(p.SourceBranch)
		if err != nil {
			return err
		}
		st.source = src
	}
	head, err := p.Deploy.Branch(p.DeployBranch)
	if err != nil || head.IsZero() || head.String() == st.head {
		return err
	}
	c, err := p.Deploy.Resolve(head.String())
	if err != nil {
		return err
	}
	names, err := p.Deploy.Subdirs(c, "clusters")
	if err != nil {
		return err
	}
	contexts, err := p.Contexts(names)
	if err != nil {
		return err
	}
	layout := map[string][]string{}
	for _, cl := range names {
		files, err := p.Deploy.Dir(c, "clusters/"+cl)
		if err != nil {
			return err
		}
		wfs := []string{}
		for f := range files {
			if f != "kustomization.yaml" && path.Ext(f) == ".yaml" {
				wfs = append(wfs, strings.TrimSuffix(f, ".yaml"))
			}
		}
		slices.Sort(wfs)
		layout[cl] = wfs
		if cfg, ok := contexts[cl]; ok && st.clusters[cl] == nil {
			w, err := watch.NewCluster(cl, cfg, p.Log, watch.WithClusterKustomization(compiler.ClusterKustomizationName(cl)),
				watch.WithFluxNamespaces(p.FluxNamespaces...))
			if err != nil {
				return err
			}
			st.clusters[cl] = w
			go w.Run(ctx)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-w.Changed():
						select {
						case changed <- struct{}{}:
						default:
						}
					}
				}
			}()
		}
	}
	st.layout, st.head = layout, head.String()
	return nil
}

// round computes every record and writes those that changed, unless one
// was written less than MinWrite ago and reached no new milestone; it
// returns how long to wait for the earliest such held-back write (0 for
// none).
func (p *StatusPublisher) round(ctx context.Context, st *publishState, r watch.Resolver, drift *watch.FieldDrift) time.Duration {
	want := map[string][]byte{}
	marks := map[string]string{}
	for cl, wfs := range st.layout {
		cs := ClusterStatus{Name: cl, Workflows: wfs}
		var results []watch.Result
		w := st.clusters[cl]
		var snap watch.Snapshot
		if w != nil {
			snap = w.Snapshot()
			cs.Watched = true
			cs.Source, cs.Kustomization = watch.ReadinessOf(snap.ClusterSource()), watch.ReadinessOf(snap.ClusterKustomization)
		}
		for _, wf := range wfs {
			ws := watch.NotWatchedStatus(wf, cl)
			if w != nil {
				ws = watch.StatusOf(ctx, snap, wf, r)
				drift.Apply(ctx, &ws, snap.Kustomization(wf))
			}
			results = append(results, ws.Result)
			want[statusWorkflows+wf] = mustJSON(ws)
			marks[statusWorkflows+wf] = milestone(ws)
		}
		switch {
		case w == nil:
			cs.Result = watch.Result{Health: watch.NotWatched, Reason: "HOOKS_KUBECONFIG has no context for this cluster"}
		case snap.Error != "":
			cs.Reachable = new(false)
			cs.Result = watch.Result{Health: watch.Unknown, Reason: snap.Unreadable()}
		case !snap.Synced:
			cs.Result = watch.Result{Health: watch.Unknown, Reason: "watches not synced yet"}
		default:
			cs.Reachable = new(true)
			// What stops the whole cluster comes first: of equally bad
			// parts, the first gives the reason.
			var parts []watch.Result
			for _, f := range []*watch.Readiness{cs.Source, cs.Kustomization} {
				if f.Stops() {
					parts = append(parts, f.Named())
				}
			}
			parts = append(parts, results...)
			cs.Result = watch.Result{Health: watch.Healthy}
			if len(parts) > 0 {
				cs.Result = watch.Worst(parts...)
			}
		}
		want[statusClusters+cl] = mustJSON(cs)
	}
	now := time.Now()
	var wait time.Duration
	for key, v := range want {
		hold := st.holdBack(key, v, marks[key], now, p.MinWrite)
		if hold > 0 && (wait == 0 || hold < wait) {
			wait = hold
		}
		if hold != 0 {
			continue
		}
		if _, err := p.Store.PutStatus(ctx, key, v); err != nil {
			p.Log.Warn("write status", slog.String("key", key), slog.String("error", err.Error()))
			continue
		}
		st.written[key], st.at[key], st.milestones[key] = v, now, marks[key]
	}
	if st.layout == nil {
		return wait
	}
	for key := range st.written {
		if _, ok := want[key]; !ok {
			if err := p.Store.DeleteStatus(ctx, key); err == nil {
				delete(st.written, key)
				delete(st.milestones, key)
			}
		}
	}
	return wait
}

// holdBack says whether the record at key, computed as v with the
// milestone mark, is not to be written now: -1 when it is as written, how
// long until it may be written when its last write was less than minWrite
// ago and it reached no new milestone, and 0 when it is to be written.
func (st *publishState) holdBack(key string, v []byte, mark string, now time.Time, minWrite time.Duration) time.Duration {
	if bytes.Equal(st.written[key], v) {
		return -1
	}
	if since := now.Sub(st.at[key]); since < minWrite && mark == st.milestones[key] {
		return minWrite - since
	}
	return 0
}

// milestone is what of a workflow's status a reader waits for: its sync
// state and the deploy and source commits that are live.
func milestone(ws watch.WorkflowStatus) string {
	m := ws.Sync.State
	if ws.Sync.Live != nil {
		m += " " + ws.Sync.Live.DeployCommit + " " + ws.Sync.Live.SourceCommit
	}
	return m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("status record: %v", err)) // only plain structs are marshalled
	}
	return b
}

// gitResolver maps deploy commits to source commits and versions, and
// reads what the deploy tree holds, remembering both: commits never
// change.
type gitResolver struct {
	deploy, source *gitrepo.Repo
	revisions      memo[watch.Revision]
	expected       memo[[]watch.Expected]
	// versions holds, by source commit, how many versions each workflow
	// has there: one walk of the history counts them all.
	versions memo[map[string]int]
}

func newGitResolver(deploy, source *gitrepo.Repo) *gitResolver {
	return &gitResolver{deploy: deploy, source: source}
}

func (g *gitResolver) Resolve(ctx context.Context, deployCommit, wf string) (watch.Revision, error) {
	return g.revisions.get(deployCommit+"/"+wf, func() (watch.Revision, error) {
		c, err := g.deploy.Resolve(deployCommit)
		if err != nil {
			return watch.Revision{}, err
		}
		r := watch.Revision{DeployCommit: c.Hash.String()}
		src := gitrepo.SourceCommit(c)
		if src.IsZero() {
			return r, nil
		}
		r.SourceCommit = src.String()
		r.Version, err = g.version(ctx, src.String(), wf)
		return r, err
	})
}

// version returns the number of workflow wf's latest version at source
// commit src, counting every workflow's versions at src in one walk.
func (g *gitResolver) version(ctx context.Context, src, wf string) (int, error) {
	counts, err := g.versions.get(src, func() (map[string]int, error) {
		all, err := g.source.AllVersions(ctx, src)
		if err != nil {
			return nil, err
		}
		counts := make(map[string]int, len(all))
		for name, vs := range all {
			counts[name] = len(vs)
		}
		return counts, nil
	})
	if err != nil {
		return 0, err
	}
	n, ok := counts[wf]
	if !ok {
		return 0, fmt.Errorf("workflow %q has no versions on %s: %w", wf, src, gitrepo.ErrNotFound)
	}
	return n, nil
}

func (g *gitResolver) Expected(_ context.Context, deployCommit, wf string) ([]watch.Expected, error) {
	return g.expected.get(deployCommit+"/"+wf, func() ([]watch.Expected, error) {
		files, err := g.base(deployCommit, wf)
		if err != nil {
			return nil, err
		}
		refs := []watch.Expected{}
		for name, b := range files {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name        string            `json:"name"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(b, &head); err != nil {
				return nil, fmt.Errorf("workflows/%s/base/%s at %s: %w", wf, name, deployCommit, err)
			}
			gv, err := schema.ParseGroupVersion(head.APIVersion)
			if err != nil {
				return nil, fmt.Errorf("workflows/%s/base/%s at %s: %w", wf, name, deployCommit, err)
			}
			refs = append(refs, watch.Expected{Ref: watch.Ref{Group: gv.Group, Kind: head.Kind, Name: head.Metadata.Name}, Node: head.Metadata.Annotations[workflow.AnnotationNodeID]})
		}
		return refs, nil
	})
}

// base returns the objects' files of a workflow's base at deployCommit,
// by name: all but its kustomization.yaml.
func (g *gitResolver) base(deployCommit, wf string) (map[string][]byte, error) {
	c, err := g.deploy.Resolve(deployCommit)
	if err != nil {
		return nil, err
	}
	files, err := g.deploy.Dir(c, "workflows/"+wf+"/base")
	if err != nil {
		return nil, err
	}
	delete(files, "kustomization.yaml")
	return files, nil
}

// Rendered returns the object of a workflow's base at deployCommit with
// ref's group, kind and name, or nil when there is none. It is read when
// an object holds fields another manager set, which is seldom, and not
// remembered: watch.FieldDrift remembers what it needs of it.
func (g *gitResolver) Rendered(_ context.Context, deployCommit, wf string, ref watch.Ref) (map[string]any, error) {
	files, err := g.base(deployCommit, wf)
	if err != nil {
		return nil, err
	}
	for name, b := range files {
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("workflows/%s/base/%s at %s: %w", wf, name, deployCommit, err)
		}
		u := unstructured.Unstructured{Object: obj}
		if gvk := u.GroupVersionKind(); gvk.Group == ref.Group && gvk.Kind == ref.Kind && u.GetName() == ref.Name {
			return obj, nil
		}
	}
	return nil, nil
}

// liveSource is a gitResolver that also finds the source branch's head
// live. A commit that changes a workflow's file and not what it renders
// (its description) makes no deploy commit, so no Source-Commit names it;
// yet when the head renders a workflow as a deploy commit holds it (its
// workflows/<name>/ tree and its Flux Kustomizations), what runs from that
// deploy commit is the head's version of it.
type liveSource struct {
	*gitResolver
	compiler *compiler.Compiler
	log      *slog.Logger
	// head is the source head to compare with, set before each round.
	head plumbing.Hash

	// built holds the blob hashes of the deploy tree compiled from
	// builtFrom (not the files: at a hundred workflows they are
	// megabytes), or buildErr why it could not be compiled.
	builtFrom plumbing.Hash
	built     map[string]plumbing.Hash
	buildErr  error
	// atHead holds, by source head, deploy commit and workflow, the
	// revision that is live.
	atHead memo[watch.Revision]
}

// Resolve resolves deployCommit as gitResolver does, then names the
// source head and its version when the head renders workflow as
// deployCommit holds it. When the head does not compile or cannot be
// read, what the deploy commit names stays live, as the deployer leaves
// it.
func (l *liveSource) Resolve(ctx context.Context, deployCommit, wf string) (watch.Revision, error) {
	r, err := l.gitResolver.Resolve(ctx, deployCommit, wf)
	head := l.head
	if err != nil || head.IsZero() || r.SourceCommit == "" || r.SourceCommit == head.String() {
		return r, err
	}
	at, err := l.atHead.get(head.String()+"/"+r.DeployCommit+"/"+wf, func() (watch.Revision, error) {
		same, err := l.rendersAs(ctx, head, r.DeployCommit, wf)
		if err != nil || !same {
			return r, err
		}
		n, err := l.version(ctx, head.String(), wf)
		if err != nil {
			return r, err
		}
		return watch.Revision{DeployCommit: r.DeployCommit, SourceCommit: head.String(), Version: n}, nil
	})
	if err != nil {
		return r, nil
	}
	return at, nil
}

// rendersAs compiles the source commit src, once, and reports whether its
// files of workflow wf are those of deployCommit.
func (l *liveSource) rendersAs(ctx context.Context, src plumbing.Hash, deployCommit, wf string) (bool, error) {
	if l.builtFrom != src {
		l.builtFrom, l.built, l.buildErr = src, nil, nil
		c, err := l.source.Commit(src)
		if err == nil {
			var files source.Files
			if files, err = l.source.Source(c); err == nil {
				var res *compiler.Result
				if res, err = l.compiler.Build(ctx, files); err == nil {
					l.built = make(map[string]plumbing.Hash, len(res.Tree))
					for p, b := range res.Tree {
						l.built[p] = plumbing.ComputeHash(plumbing.BlobObject, b)
					}
				}
			}
		}
		if err != nil {
			l.log.Debug("the source head does not compile; only deploy commits' versions are live", slog.String("source", gitrepo.ShortID(src.String())), slog.String("error", err.Error()))
			l.buildErr = fmt.Errorf("compile source %s: %w", gitrepo.ShortID(src.String()), err)
		}
	}
	if l.buildErr != nil {
		return false, l.buildErr
	}
	have, err := l.renders(deployCommit, wf)
	if err != nil {
		return false, err
	}
	n := 0
	for p, h := range l.built {
		if !ownedBy(p, wf) {
			continue
		}
		if have[p] != h {
			return false, nil
		}
		n++
	}
	return n == len(have), nil
}

// renders returns the blob hashes of the files of deployCommit that
// render workflow wf (see ownedBy), reading only their directories.
func (l *liveSource) renders(deployCommit, wf string) (map[string]plumbing.Hash, error) {
	c, err := l.deploy.Resolve(deployCommit)
	if err != nil {
		return nil, err
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("deploy commit %s: %w", gitrepo.ShortID(deployCommit), err)
	}
	out := map[string]plumbing.Hash{}
	dir := "workflows/" + wf
	if t, err := root.Tree(dir); err == nil {
		err := t.Files().ForEach(func(f *gitobject.File) error {
			out[dir+"/"+f.Name] = f.Hash
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("deploy commit %s: %s: %w", gitrepo.ShortID(deployCommit), dir, err)
		}
	}
	if clusters, err := root.Tree("clusters"); err == nil {
		for _, e := range clusters.Entries {
			p := "clusters/" + e.Name + "/" + wf + ".yaml"
			if f, err := root.File(p); err == nil {
				out[p] = f.Hash
			}
		}
	}
	return out, nil
}

// ownedBy reports whether path p of a deploy tree renders workflow wf:
// its workflows/<wf>/ files and its Flux Kustomization in each cluster,
// clusters/<cluster>/<wf>.yaml.
func ownedBy(p, wf string) bool {
	if strings.HasPrefix(p, "workflows/"+wf+"/") {
		return true
	}
	parts := strings.Split(p, "/")
	return len(parts) == 3 && parts[0] == "clusters" && parts[2] == wf+".yaml"
}

// maxMemo bounds a memo; a full one starts again empty.
const maxMemo = 4096

// memo remembers values by key; failures are not remembered.
type memo[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func (c *memo[V]) get(key string, fill func() (V, error)) (V, error) {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := fill()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxMemo {
		c.m = map[string]V{}
	}
	c.m[key] = v
	c.mu.Unlock()
	return v, nil
}
