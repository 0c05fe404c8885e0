package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// demoConfig is what the demo runs the webhook service on.
type demoConfig struct {
	repo, hooks, addr, secret, token string
	// dir is the state directory: the stack's, and the service's data
	// and log.
	dir string
}

func (d *demoConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&d.repo, "repo", ".demo/workflows", "the workflows repository (a git working tree, branch main); Flux reads its deploy branch over HTTP")
	fs.StringVar(&d.hooks, "hooks", "bin/hooks", "the webhook service's binary (go build ./cmd/hooks)")
	fs.StringVar(&d.addr, "addr", "127.0.0.1:8080", "where the webhook service listens")
	fs.StringVar(&d.secret, "secret", "demo-webhook-secret", "the webhook secret (16 characters or more)")
	fs.StringVar(&d.token, "token", "demo-api-token-0123456789", "the bearer token of the write API (restores)")
}

// abs makes the paths absolute, for the process started in the background.
func (d *demoConfig) abs() error {
	var err error
	if d.repo, err = filepath.Abs(d.repo); err != nil {
		return err
	}
	if d.hooks, err = filepath.Abs(d.hooks); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(d.repo, ".git")); err != nil {
		return fmt.Errorf("%s is not a git working tree: %w", d.repo, err)
	}
	return nil
}

func (d *demoConfig) args() []string {
	return []string{"--repo", d.repo, "--hooks", d.hooks, "--addr", d.addr, "--secret", d.secret, "--token", d.token}
}

// usage prints what to open and how to send a push.
func (d *demoConfig) usage(w io.Writer) {
	url := "http://" + d.addr
	fmt.Fprintf(w, `the status page:     %[1]s/   (workflows: %[1]s/api/workflows)
the workflows:       %[2]s (branch main; Flux applies its branch deploy)
send a push:         edit and commit there, then: make demo-push
                     (a push delivery for main, signed with the webhook secret %[3]q)
restore a version:   curl -X POST -H 'Authorization: Bearer %[4]s' %[1]s/api/workflows/shop/versions/1/restore
the cluster:         KUBECONFIG=%[5]s kubectl get kustomizations,pods -A
stop it all:         make demo-down
`, url, d.repo, d.secret, d.token, filepath.Join(d.dir, "kubeconfig"))
}

// serveDemo runs the stack, with the workflows repository's parent
// directory served over HTTP, Flux bootstrapped on the deploy branch for
// every cluster of the repository, and the webhook service on the
// repository, until SIGTERM or SIGINT.
func serveDemo(dir, bin, pidFile string, d demoConfig) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	s, err := kubetest.Start(ctx, kubetest.Options{BinDir: bin, Dir: filepath.Join(dir, "state"), GitRoot: filepath.Dir(d.repo), Flux: true,
		CRDs: [][]byte{kubetest.CertificateCRD}, Log: os.Stdout})
	if err != nil {
		return err
	}
	defer s.Stop()
	clusters, err := repoClusters(d.repo)
	if err != nil {
		return err
	}
	// The sample's claims: the stack has no provisioner.
	for class, n := range map[string]int{"": 4, "standard": 2, "fast": 2} {
		if err := s.PersistentVolumes(ctx, class, n); err != nil {
			return err
		}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := contextPerCluster(s.Kubeconfig, kubeconfig, clusters); err != nil {
		return err
	}
	url := s.GitURL(filepath.Base(d.repo))
	for _, c := range clusters {
		y, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: c, URL: url, Branch: "deploy", Interval: time.Minute}, compiler.DefaultOptions())
		if err != nil {
			return err
		}
		if err := s.Apply(ctx, y); err != nil {
			return fmt.Errorf("bootstrap Flux for cluster %s: %w", c, err)
		}
	}
	fmt.Printf("Flux applies branch deploy of %s for clusters %v\n", url, clusters)

	hooks, err := startHooks(dir, kubeconfig, d)
	if err != nil {
		return err
	}
	defer hooks.stop()
	if err := waitLive(ctx, "http://"+d.addr, d.repo, hooks.exited); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-hooks.exited:
		return fmt.Errorf("the webhook service exited; see %s", hooks.log)
	}
}

// repoClusters lists the clusters of a workflows repository: the stems of
// clusters/*.json, or the default cluster when there are none.
func repoClusters(repo string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(repo, "clusters", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	if len(out) == 0 {
		out = []string{workflow.DefaultCluster}
	}
	return out, nil
}

// contextPerCluster writes a copy of the kubeconfig at from with a
// context named like each cluster, all on the one stack: the webhook
// service watches a cluster through the context of its name.
func contextPerCluster(from, to string, clusters []string) error {
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		return err
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	if cur == nil {
		return fmt.Errorf("kubeconfig %s: no current context", from)
	}
	for _, c := range clusters {
		cfg.Contexts[c] = cur.DeepCopy()
	}
	return clientcmd.WriteToFile(*cfg, to)
}

// hooksProcess is the webhook service running in a group of its own.
type hooksProcess struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startHooks starts the webhook service on the demo's repository, its
// data and log in dir.
func startHooks(dir, kubeconfig string, d demoConfig) (*hooksProcess, error) {
	p := &hooksProcess{log: filepath.Join(dir, "hooks.log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(d.hooks)
	p.cmd.Env = append(os.Environ(),
		"HOOKS_ADDR="+d.addr, "HOOKS_SOURCE_REPO="+d.repo, "HOOKS_GITHUB_WEBHOOK_SECRET="+d.secret, "HOOKS_API_TOKENS="+d.token,
		"HOOKS_DATA_DIR="+filepath.Join(dir, "hooks"), "HOOKS_KUBECONFIG="+kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", d.hooks, err)
	}
	fmt.Printf("the webhook service runs on %s (pid %d, log %s)\n", d.addr, p.cmd.Process.Pid, p.log)
	go func() {
		p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *hooksProcess) stop() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// waitLive waits until the webhook service reports every workflow it
// watches live at the head of the repository's main branch.
func waitLive(ctx context.Context, url, repo string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	last := "the webhook service does not answer yet"
	for {
		if ok, why := live(ctx, url, repo); ok {
			fmt.Println("the sample is live")
			return nil
		} else if why != "" {
			last = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the sample is not live: %s", last)
		case <-exited:
			return errors.New("the webhook service exited; see hooks.log")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// live tells whether every workflow record is live at the source head,
// and if not, why.
func live(ctx context.Context, url, repo string) (bool, string) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "main").Output()
	if err != nil {
		return false, fmt.Sprintf("git rev-parse main: %v", err)
	}
	head := strings.TrimSpace(string(out))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/status", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, ""
	}
	defer resp.Body.Close()
	var st struct {
		Workflows []watch.WorkflowStatus `json:"workflows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return false, fmt.Sprintf("/api/status: %v", err)
	}
	if len(st.Workflows) == 0 {
		return false, "no workflow is watched yet"
	}
	var waiting []string
	for _, w := range st.Workflows {
		if w.Sync.Live == nil || w.Sync.Live.SourceCommit != head {
			waiting = append(waiting, fmt.Sprintf("%s on %s: %s %s", w.Name, w.Cluster, w.Sync.State, w.Sync.Message))
		}
	}
	if len(waiting) > 0 {
		return false, "not yet live at " + head[:12] + ": " + strings.Join(waiting, "; ")
	}
	return true, ""
}
