package build

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/workflow"
)

// Errors of Start and Cancel, for callers to map.
var (
	// ErrNotFound means no such workflow, node or build.
	ErrNotFound = errors.New("not found")
	// ErrNotBuildable means the node has no build with a repository.
	ErrNotBuildable = errors.New("not buildable")
)

// Records is what a Service needs of the store (*store.Store): build
// records, created once and updated by compare-and-swap.
type Records interface {
	CreateBuild(ctx context.Context, id string, value []byte) (bool, error)
	UpdateBuild(ctx context.Context, id string, value []byte, revision int64) (bool, error)
	Build(ctx context.Context, id string) (*store.BuildRecord, error)
	Builds(ctx context.Context) ([]store.BuildRecord, error)
	DeleteBuild(ctx context.Context, id string, revision int64) (bool, error)
}

// Sessions leads the builds on a store session (*store.Store).
type Sessions interface {
	Lead(ctx context.Context, ttl time.Duration, name, id string, follow func(ctx context.Context, sess *store.Session) error) error
}

var (
	_ Records  = (*store.Store)(nil)
	_ Sessions = (*store.Store)(nil)
)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Config Config
	// Records keep the builds; Sessions elect the one replica that runs
	// them.
	Records  Records
	Sessions Sessions
	// ID names this replica in the election.
	ID string
	// Kube is the cluster builds run in.
	Kube kubernetes.Interface
	// Source holds SourceBranch, the workflows: what to build, and where
	// images are written back.
	Source       *gitrepo.Repo
	SourceBranch string
	// Author signs write-back commits.
	Author gitrepo.Signature
	// Deploy asks for a deploy after a write-back.
	Deploy func(ctx context.Context) error
	Log    *slog.Logger
}

// Service starts builds, follows them and writes their images back.
type Service struct {
	cfg ServiceConfig
	// nudge wakes the running builds' loop for one build.
	nudge chan string
}

// NewService returns a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Records == nil || cfg.Sessions == nil || cfg.Kube == nil || cfg.Source == nil || cfg.SourceBranch == "" || cfg.Deploy == nil || cfg.Log == nil || cfg.ID == "" {
		return nil, errors.New("builds: records, sessions, a cluster, the source repository and branch, a deploy, a log and an id are required")
	}
	if !cfg.Config.Enabled() {
		return nil, errors.New("builds: HOOKS_BUILD_REGISTRY is required")
	}
	if errs := cfg.Config.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("builds: %w", errors.Join(errs...))
	}
	return &Service{cfg: cfg, nudge: make(chan string, 64)}, nil
}

// Request asks for a build of a workflow's node at a commit of its
// repository.
type Request struct {
	Workflow string `json:"workflow"`
	Node     string `json:"node"`
	Commit   string `json:"commit"`
}

// Push is a push to a repository's branch.
type Push struct {
	// URLs are the repository's URLs (clone, HTML, SSH): a node's repoUrl
	// matches any of them.
	URLs   []string `json:"urls"`
	Branch string   `json:"branch"`
	Commit string   `json:"commit"`
}

// Start records a build of a node at a commit and returns it, with
// whether it is new: a build of that node and commit that exists already
// is returned as it is. A new build cancels the node's builds of other
// commits that still run.
func (s *Service) Start(ctx context.Context, req Request) (*Record, bool, error) {
	if !isCommit(req.Commit) {
		return nil, false, fmt.Errorf("commit %q is not a commit id (40 or 64 lowercase hex digits): %w", req.Commit, ErrNotBuildable)
	}
	head, files, err := s.workflows(ctx)
	if err != nil {
		return nil, false, err
	}
	data, ok := files[req.Workflow+".json"]
	if !ok {
		return nil, false, fmt.Errorf("workflow %q: %w", req.Workflow, ErrNotFound)
	}
	wf, err := workflow.Decode(workflow.WorkflowFile(req.Workflow), data)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrNotBuildable, err)
	}
	n := wf.NodeByID(req.Node)
	if n == nil {
		return nil, false, fmt.Errorf("node %q of workflow %q: %w", req.Node, req.Workflow, ErrNotFound)
	}
	return s.start(ctx, req.Workflow, n, req.Commit, head)
}

// Pushed starts a build of every node, of the source branch's workflows
// that are not archived, that builds from the pushed repository and
// branch, and returns them. A push to the workflows' own source branch
// builds nothing: write-backs are such pushes.
func (s *Service) Pushed(ctx context.Context, p Push) ([]*Record, error) {
	if !isCommit(p.Commit) {
		return nil, fmt.Errorf("commit %q is not a commit id", p.Commit)
	}
	if p.Branch == s.cfg.SourceBranch && sameRepository(s.cfg.Source.URL(), p.URLs) {
		// Each write-back is a push there: building on it would never end.
		return nil, nil
	}
	head, files, err := s.workflows(ctx)
	if err != nil {
		return nil, err
	}
	var started []*Record
	var errs []error
	for file, data := range files {
		name, ok := strings.CutSuffix(file, ".json")
		if !ok {
			continue
		}
		wf, err := workflow.Decode(workflow.WorkflowFile(name), data)
		if err != nil || wf.Status == workflow.StatusArchived {
			continue
		}
		for i := range wf.Nodes {
			b := buildOf(&wf.Nodes[i])
			if b == nil || cmp.Or(b.Branch, defaultBranch) != p.Branch || !sameRepository(b.RepoURL, p.URLs) {
				continue
			}
			r, created, err := s.start(ctx, name, &wf.Nodes[i], p.Commit, head)
			if errors.Is(err, ErrNotBuildable) {
				// Trying again would not mend the node: say so, and go on.
				s.cfg.Log.Warn("a push cannot build a node", slog.String("workflow", name), slog.String("node", wf.Nodes[i].ID), slog.String("error", err.Error()))
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if created {
				started = append(started, r)
			}
		}
	}
	return started, errors.Join(errs...)
}

// defaultBranch is the branch built when a node's build names none.
const defaultBranch = "main"

// workflows reads the workflow files at the source branch's head.
func (s *Service) workflows(ctx context.Context) (string, map[string][]byte, error) {
	if err := s.cfg.Source.Fetch(ctx); err != nil {
		return "", nil, err
	}
	head, err := s.cfg.Source.Resolve(s.cfg.SourceBranch)
	if err != nil {
		return "", nil, err
	}
	files, err := s.cfg.Source.Dir(head, workflow.WorkflowsDir)
	if err != nil {
		return "", nil, err
	}
	return head.Hash.String(), files, nil
}

// buildOf returns a workload node's build when it names a repository.
func buildOf(n *workflow.Node) *workflow.BuildSpec {
	w, ok := n.Spec.(workflow.Workload)
	if !ok {
		return nil
	}
	if b := w.ContainerSpec().Build; b != nil && b.RepoURL != "" {
		return b
	}
	return nil
}

// start records a build of node n at commit, the workflows being at
// sourceCommit, and cancels the node's other running builds.
func (s *Service) start(ctx context.Context, wf string, n *workflow.Node, commit, sourceCommit string) (*Record, bool, error) {
	b := buildOf(n)
	if b == nil {
		return nil, false, fmt.Errorf("node %q of workflow %q has no build with a repoUrl: %w", n.ID, wf, ErrNotBuildable)
	}
	image, err := imageName(s.cfg.Config.Registry, n.Spec.(workflow.Workload).ContainerSpec().Image)
	if err != nil {
		return nil, false, fmt.Errorf("node %q of workflow %q: %w: %w", n.ID, wf, ErrNotBuildable, err)
	}
	ctxDir := path.Clean(b.Context)
	if path.IsAbs(ctxDir) || ctxDir == ".." || strings.HasPrefix(ctxDir, "../") || strings.Contains(b.Context, "://") {
		return nil, false, fmt.Errorf("node %q of workflow %q: context %q is not a directory of the repository: %w", n.ID, wf, b.Context, ErrNotBuildable)
	}
	r := &Record{
		ID: ID(wf, n.ID, commit), Workflow: wf, Node: n.ID,
		RepoURL: b.RepoURL, Branch: cmp.Or(b.Branch, defaultBranch), Commit: commit,
		Context: ctxDir, Dockerfile: b.Dockerfile, Args: b.Args, Target: b.Target,
		Registry: s.cfg.Config.Registry, ImageName: image, ImageTag: commit[:12],
		SourceCommit: sourceCommit, Status: Pending, CreatedAt: time.Now().UTC(),
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, false, err
	}
	created, err := s.cfg.Records.CreateBuild(ctx, r.ID, v)
	if err != nil {
		return nil, false, err
	}
	if !created {
		cur, _, err := s.Get(ctx, r.ID)
		return cur, false, err
	}
	s.cfg.Log.Info("build started", slog.String("build", r.ID), slog.String("workflow", wf), slog.String("node", n.ID), slog.String("commit", commit))
	if err := s.cancelOthers(ctx, r); err != nil {
		s.cfg.Log.Warn("cancel the node's older builds", slog.String("build", r.ID), slog.String("error", err.Error()))
	}
	s.wake(r.ID)
	return r, true, nil
}

// cancelOthers cancels the running builds of r's node at other commits:
// a newer commit makes them moot.
func (s *Service) cancelOthers(ctx context.Context, r *Record) error {
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range all {
		if o.ID != r.ID && o.Workflow == r.Workflow && o.Node == r.Node && !o.Status.Done() {
			if _, _, err := s.Cancel(ctx, o.ID, "superseded by build "+r.ID+" of commit "+r.Commit); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Get returns a build and its record's revision.
func (s *Service) Get(ctx context.Context, id string) (*Record, int64, error) {
	br, err := s.cfg.Records.Build(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if br == nil {
		return nil, 0, fmt.Errorf("build %q: %w", id, ErrNotFound)
	}
	var r Record
	if err := json.Unmarshal(br.Value, &r); err != nil {
		return nil, 0, fmt.Errorf("build %s: %w", id, err)
	}
	return &r, br.Revision, nil
}

// List returns every build, newest first.
func (s *Service) List(ctx context.Context) ([]*Record, error) {
	brs, err := s.cfg.Records.Builds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(brs))
	for _, br := range brs {
		var r Record
		if err := json.Unmarshal(br.Value, &r); err != nil {
			return nil, fmt.Errorf("build %s: %w", br.ID, err)
		}
		out = append(out, &r)
	}
	slices.SortFunc(out, newestFirst)
	return out, nil
}

// Cancel cancels a build that has not ended, recording why, and returns
// it with whether it cancelled it; its Job is deleted by the running
// builds' loop.
func (s *Service) Cancel(ctx context.Context, id, reason string) (*Record, bool, error) {
	cancelled := false
	r, err := s.update(ctx, id, func(r *Record) bool {
		if r.Status.Done() {
			return false
		}
		r.finish(Cancelled, time.Now().UTC())
		r.Error, cancelled = reason, true
		return true
	})
	if err != nil {
		return nil, false, err
	}
	s.wake(id)
	return r, cancelled, nil
}

// update changes a build's record by compare-and-swap: change is called
// with the current record, again after a concurrent write, and reports
// whether it changed anything. update returns the record as stored.
func (s *Service) update(ctx context.Context, id string, change func(*Record) bool) (*Record, error) {
	for {
		r, rev, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if !change(r) {
			return r, nil
		}
		v, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		ok, err := s.cfg.Records.UpdateBuild(ctx, id, v, rev)
		if err != nil {
			return nil, err
		}
		if ok {
			return r, nil
		}
	}
}

// wake asks the running builds' loop to look at a build now; when the
// loop is busy, or runs on another replica, its resync looks soon.
func (s *Service) wake(id string) {
	select {
	case s.nudge <- id:
	default:
	}
}

// imageName returns the repository path of a node's image, without its
// registry, tag and digest: the name its builds are pushed under in
// registry. An image already under registry, as a build wrote it back,
// keeps its path below registry, so that each build pushes to the same
// name.
func imageName(registry, image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	if rest, ok := strings.CutPrefix(named.Name(), strings.TrimSuffix(registry, "/")+"/"); ok {
		return rest, nil
	}
	return reference.Path(named), nil
}

// sameRepository reports whether a node's repoUrl names one of a push's
// repository URLs: scheme, credentials, a ".git" suffix, a trailing slash
// and the host's case aside.
func sameRepository(repoURL string, urls []string) bool {
	want := repositoryKey(repoURL)
	for _, u := range urls {
		if u != "" && repositoryKey(u) == want {
			return true
		}
	}
	return false
}

// repositoryKey reduces a repository URL to host/path: https://host/o/r,
// git@host:o/r.git and ssh://git@host/o/r all give host/o/r.
func repositoryKey(u string) string {
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = rest
	} else if user, rest, ok := strings.Cut(u, "@"); ok && !strings.Contains(user, "/") {
		u = strings.Replace(rest, ":", "/", 1)
	}
	if _, rest, ok := strings.Cut(u, "@"); ok {
		u = rest
	}
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	host, p, _ := strings.Cut(u, "/")
	return strings.ToLower(host) + "/" + p
}

// isCommit reports whether s is a SHA-1 or SHA-256 commit id in lowercase
// hex.
func isCommit(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}
