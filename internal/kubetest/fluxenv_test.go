package kubetest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// fluxWait bounds each wait for Flux to apply a commit.
const fluxWait = 4 * time.Minute

// fluxEnv is a workflows repository deployed to a branch that Flux in the
// shared stack applies, with Flux objects in a namespace of its own so
// that tests do not touch each other's.
type fluxEnv struct {
	t    *testing.T
	s    *Stack
	opts compiler.Options
	repo string // the bare repository's name under gitRoot
	work string // a clone: main is the source, deploy the deploy branch
	d    *deployer.Deployer
	dyn  dynamic.Interface
}

// fluxNamespace holds the Flux objects of these tests, apart from those of
// the other tests of the package.
const fluxNamespace = "safety-flux"

// newFluxEnv makes an empty workflows repository named repo whose deploys
// Flux finds through the GitRepository sourceRef in fluxNamespace.
func newFluxEnv(t *testing.T, s *Stack, repo, sourceRef string) *fluxEnv {
	t.Helper()
	opts := compiler.DefaultOptions()
	opts.SourceRefName, opts.SourceRefNamespace = sourceRef, fluxNamespace
	e := &fluxEnv{t: t, s: s, repo: repo, work: gittest.Init(t)}
	gittest.Commit(t, e.work, "Start the workflows repository", nil)
	gittest.InitBare(t, e.bare())
	gittest.Git(t, e.work, "push", "-q", e.bare(), "main")
	var err error
	if e.dyn, err = dynamic.NewForConfig(s.Config); err != nil {
		t.Fatal(err)
	}
	return e.with(opts)
}

// with returns e deploying with the compiler options opts, into the same
// repository.
func (e *fluxEnv) with(opts compiler.Options) *fluxEnv {
	e.t.Helper()
	c := *e
	c.opts = opts
	r, err := gitrepo.Open(e.t.Context(), e.bare(), gitrepo.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	comp, err := compiler.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	c.d, err = deployer.New(r, r, comp, deployer.Options{SourceBranch: "main", Branch: "deploy", Author: gitrepo.Signature{Name: "Slipway", Email: "slipway@example.com"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return &c
}

// in returns e for a subtest t, so that its failures end t.
func (e *fluxEnv) in(t *testing.T) *fluxEnv {
	c := *e
	c.t = t
	return &c
}

func (e *fluxEnv) bare() string { return filepath.Join(gitRoot, e.repo+".git") }

// commit commits files (nil deletes) to the source branch and pushes it.
func (e *fluxEnv) commit(message string, files map[string][]byte) {
	e.t.Helper()
	gittest.Commit(e.t, e.work, message, files)
	gittest.Git(e.t, e.work, "push", "-q", e.bare(), "main")
}

// deployDir commits the files of dir to the source branch and deploys it.
func (e *fluxEnv) deployDir(message, dir string) string {
	e.t.Helper()
	e.commit(message, gittest.CopyDir(e.t, dir, e.work, ""))
	commit, err := e.deploy()
	if err != nil {
		e.t.Fatal(err)
	}
	return commit
}

// deploy compiles the source branch onto the deploy branch and returns
// the deploy commit, or the compiler's error.
func (e *fluxEnv) deploy() (string, error) {
	res, err := e.d.Deploy(e.t.Context())
	if err != nil {
		return "", err
	}
	return res.DeployCommit, nil
}

// bootstrap applies what compiler bootstrap prints for cluster, with the
// changes of each of with.
func (e *fluxEnv) bootstrap(cluster string, with ...func(*compiler.BootstrapOptions)) {
	e.t.Helper()
	b := compiler.BootstrapOptions{Cluster: cluster, URL: e.s.GitURL(e.repo + ".git"), Branch: "deploy", Interval: 10 * time.Second}
	for _, f := range with {
		f(&b)
	}
	y, err := compiler.Bootstrap(b, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.Apply(e.t.Context(), y); err != nil {
		e.t.Fatal(err)
	}
}

// waitApplied waits until each named Kustomization has applied commit and
// is Ready.
func (e *fluxEnv) waitApplied(commit string, names ...string) {
	e.t.Helper()
	ctx := e.t.Context()
	var last []string
	err := e.s.Poll(ctx, fluxWait, func() (bool, error) {
		last = last[:0]
		done := true
		for _, n := range names {
			k, err := e.dyn.Resource(kustomizations).Namespace(e.opts.SourceRefNamespace).Get(ctx, n, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				done = false
				last = append(last, n+": not found")
				continue
			}
			if err != nil {
				return false, err
			}
			applied, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
			st, msg := condition(k, "Ready")
			last = append(last, fmt.Sprintf("%s: Ready=%s %s (applied %s)", n, st, msg, applied))
			done = done && st == "True" && strings.HasSuffix(applied, commit)
		}
		return done, nil
	})
	if err != nil {
		e.t.Fatalf("Flux did not apply %s: %v\n%s", commit[:12], err, strings.Join(last, "\n"))
	}
}

// waitGone waits until get reports NotFound.
func (e *fluxEnv) waitGone(what string, get func() error) {
	e.t.Helper()
	err := e.s.Poll(e.t.Context(), fluxWait, func() (bool, error) {
		err := get()
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		e.t.Fatalf("%s still exists: %v", what, err)
	}
}

// persistentVolumes makes n new hostPath volumes of class class for claims to
// bind to: the stack has no provisioner.
func persistentVolumes(t *testing.T, s *Stack, class string, n int) {
	t.Helper()
	if err := s.PersistentVolumes(t.Context(), class, n); err != nil {
		t.Fatal(err)
	}
}
