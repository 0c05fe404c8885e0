package kubetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ClustersOptions configure a set of clusters.
type ClustersOptions struct {
	// BinDir holds the binaries (see make kube-tools).
	BinDir string
	// Dir holds the clusters' state and logs; a temporary directory if
	// empty.
	Dir string
	// GitRoot is served over smart HTTP, as Options.GitRoot is.
	GitRoot string
	// Names name the clusters, one each.
	Names []string
	// Flux starts Flux's controllers on each cluster and installs their
	// CRDs.
	Flux bool
	// KustomizeControllerArgs are added to each kustomize-controller's
	// command line, as Options.KustomizeControllerArgs are.
	KustomizeControllerArgs []string
	// Log receives progress lines; nil for none.
	Log io.Writer
}

// Clusters are independent clusters sharing one etcd: a kube-apiserver
// each, storing under an etcd prefix of its own, with Flux's controllers
// if asked, and no controller-manager, scheduler or kwok: nothing runs
// pods, and a Deployment's status is what its test sets. They cost a
// fraction of a Stack each, so that one machine runs ten.
type Clusters struct {
	// Dir holds state, logs and the kubeconfig.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig with a context per
	// cluster, named as the cluster.
	Kubeconfig string
	// Stacks are the clusters, by name: each one's Kubeconfig, Config and
	// Client reach it alone, and Halt("kube-apiserver") takes it away.
	Stacks map[string]*Stack

	// etcd runs the shared etcd and serves GitRoot.
	etcd *Stack
}

// StartClusters starts the clusters and waits until each serves. On error
// everything started is stopped again.
func StartClusters(ctx context.Context, opts ClustersOptions) (_ *Clusters, err error) {
	if missing := MissingBinaries(opts.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("kube clusters: %s lacks %v: run make kube-tools", opts.BinDir, missing)
	}
	if len(opts.Names) == 0 {
		return nil, fmt.Errorf("kube clusters: no cluster names")
	}
	c := &Clusters{Dir: opts.Dir, Stacks: map[string]*Stack{}}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "slipway-kube-clusters-"); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	c.etcd = &Stack{opts: Options{BinDir: opts.BinDir, Log: opts.Log}, Dir: filepath.Join(c.Dir, "etcd"), ports: freePorts}
	if err := os.MkdirAll(filepath.Join(c.etcd.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if opts.GitRoot != "" {
		if err := c.etcd.serveGit(opts.GitRoot); err != nil {
			return nil, err
		}
	}
	etcdURL, err := c.etcd.startEtcd(ctx)
	if err != nil {
		return nil, err
	}

	// Every API server starts at once and each cluster gets ready on its
	// own: on a busy machine, one after another would take minutes.
	pkis := make([]*pki, len(opts.Names))
	for i, name := range opts.Names {
		s := &Stack{opts: Options{BinDir: opts.BinDir, Flux: opts.Flux, KustomizeControllerArgs: opts.KustomizeControllerArgs, Log: opts.Log},
			Dir: filepath.Join(c.Dir, name), ports: freePorts}
		c.Stacks[name] = s
		if err := os.MkdirAll(filepath.Join(s.Dir, "logs"), 0o755); err != nil {
			return nil, err
		}
		if pkis[i], err = newPKI(s.Dir); err != nil {
			return nil, fmt.Errorf("kube clusters: %s: pki: %w", name, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, name := range opts.Names {
		s := c.Stacks[name]
		g.Go(func() error {
			if err := s.startAPIServer(gctx, pkis[i], etcdURL, "/"+name); err != nil {
				return fmt.Errorf("cluster %s: %w", name, err)
			}
			if opts.Flux {
				if err := s.startFlux(gctx); err != nil {
					return fmt.Errorf("cluster %s: %w", name, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := c.writeKubeconfig(opts.Names); err != nil {
		return nil, err
	}
	c.etcd.logf("clusters ready: KUBECONFIG=%s", c.Kubeconfig)
	return c, nil
}

// writeKubeconfig writes one kubeconfig with every cluster's context,
// the first one current.
func (c *Clusters) writeKubeconfig(names []string) error {
	cfg := clientcmdapi.NewConfig()
	for _, name := range names {
		one, err := clientcmd.LoadFromFile(c.Stacks[name].Kubeconfig)
		if err != nil {
			return err
		}
		ctx := one.Contexts[one.CurrentContext]
		cfg.Clusters[name] = one.Clusters[ctx.Cluster]
		cfg.AuthInfos[name] = one.AuthInfos[ctx.AuthInfo]
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = names[0]
	return clientcmd.WriteToFile(*cfg, c.Kubeconfig)
}

// GitURL is the HTTP URL of a repository under ClustersOptions.GitRoot.
func (c *Clusters) GitURL(repo string) string { return c.etcd.GitURL(repo) }

// PeakMemory returns the peak resident memory of every process of the
// clusters together, in bytes, by binary name.
func (c *Clusters) PeakMemory() map[string]int64 {
	out := c.etcd.PeakMemory()
	for _, s := range c.Stacks {
		for name, b := range s.PeakMemory() {
			out[name] += b
		}
	}
	return out
}

// Stop stops every cluster, then etcd.
func (c *Clusters) Stop() {
	for _, s := range c.Stacks {
		s.Stop()
	}
	c.etcd.Stop()
}

// ClustersForTest starts clusters for one test or benchmark, with their
// git server on a temporary directory, which it returns; BinDir may be
// relative. Without the binaries the test is skipped loudly, and fails in
// CI. The clusters stop when the test ends; their logs are kept when the
// test failed.
func ClustersForTest(t testing.TB, opts ClustersOptions) (*Clusters, string) {
	t.Helper()
	opts.BinDir, opts.GitRoot = requireBinaries(t, opts.BinDir), t.TempDir()
	// Ten API servers starting together on two busy cores take a while.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	c, err := StartClusters(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	stopWhenDone(t, c.Dir, c.Stop)
	return c, opts.GitRoot
}
