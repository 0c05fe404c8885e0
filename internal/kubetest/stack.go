// Package kubetest runs a real Kubernetes control plane with fake nodes
// and real Flux controllers on loopback, for tests and for people: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok (pods run
// and Jobs complete on fake nodes; build pods step by step, as a test
// ends each step), Flux's source-controller and
// kustomize-controller, and a smart-HTTP git server they pull from. The
// binaries are built from the Go module proxy by `make kube-tools`.
package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a stack.
type Options struct {
	// BinDir holds the binaries (see make kube-tools).
	BinDir string
	// Dir holds the stack's state and logs; a temporary directory if empty.
	Dir string
	// GitRoot is served over smart HTTP: a bare repository GitRoot/x.git
	// is at GitURL("x.git").
	GitRoot string
	// Flux starts Flux's controllers and installs their CRDs.
	Flux bool
	// KustomizeControllerArgs are added to kustomize-controller's command
	// line, as a cluster's operator sets them (for example Flux's
	// multi-tenancy lockdown: --no-cross-namespace-refs=true
	// --default-service-account=default).
	KustomizeControllerArgs []string
	// SourceControllerArgs are added to source-controller's command line,
	// as a cluster's operator sets them (for example --concurrent for many
	// GitRepositories).
	SourceControllerArgs []string
	// CRDs are extra CustomResourceDefinition manifests to apply.
	CRDs [][]byte
	// Log receives progress lines; nil for none.
	Log io.Writer
}

// Stack is a running control plane.
type Stack struct {
	// Dir holds state, logs and the kubeconfig.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface

	opts    Options
	procs   []*process
	git     *http.Server
	gitAddr string
	// ports reserves loopback ports for a process; freePorts unless a
	// test sets it.
	ports func(n int) ([]int, error)
}

// process is one started binary.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Binaries are the programs a stack runs.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl", "source-controller", "kustomize-controller"}

// MissingBinaries lists the binaries BinDir lacks.
func MissingBinaries(binDir string) []string {
	var out []string
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			out = append(out, b)
		}
	}
	return out
}

// Start starts a stack and waits until it serves. On error everything
// started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if missing := MissingBinaries(opts.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("kube stack: %s lacks %v: run make kube-tools", opts.BinDir, missing)
	}
	s := &Stack{opts: opts, Dir: opts.Dir, ports: freePorts}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "slipway-kube-"); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(s.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	p, err := newPKI(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("kube stack: pki: %w", err)
	}
	if opts.GitRoot != "" {
		if err := s.serveGit(opts.GitRoot); err != nil {
			return nil, err
		}
	}

	etcdURL, err := s.startEtcd(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.startAPIServer(ctx, p, etcdURL, ""); err != nil {
		return nil, err
	}

	// Neither serves anything a test reads: with no port of their own,
	// no other process can take it from them.
	kc := s.Kubeconfig
	s.logf("starting kube-controller-manager and kube-scheduler")
	if err := s.start("kube-controller-manager", nil, "--kubeconfig", kc, "--leader-elect=false", "--secure-port", "0",
		"--service-account-private-key-file", p.saKey, "--root-ca-file", p.caCert, "--use-service-account-credentials=false",
		"--controllers", "*", "--cluster-signing-cert-file", p.caCert, "--cluster-signing-key-file", p.caKey); err != nil {
		return nil, err
	}
	if err := s.start("kube-scheduler", nil, "--kubeconfig", kc, "--leader-elect=false", "--secure-port", "0"); err != nil {
		return nil, err
	}
	if err := s.startKwok(ctx); err != nil {
		return nil, err
	}
	for _, crd := range opts.CRDs {
		if err := s.Apply(ctx, crd); err != nil {
			return nil, fmt.Errorf("kube stack: apply CRD: %w", err)
		}
	}
	if opts.Flux {
		if err := s.startFlux(ctx); err != nil {
			return nil, err
		}
	}
	s.logf("stack ready: KUBECONFIG=%s", s.Kubeconfig)
	return s, nil
}

// startEtcd starts a single-member etcd on loopback, waits until it is
// healthy and returns the URL it serves clients on.
func (s *Stack) startEtcd(ctx context.Context) (clientURL string, err error) {
	err = s.startOnFreePorts("etcd", 2, func(ports []int) error {
		clientURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		s.logf("starting etcd on %s", clientURL)
		if err := s.start("etcd", nil, "--data-dir", filepath.Join(s.Dir, "etcd"), "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL, "--name", "default",
			"--unsafe-no-fsync"); err != nil {
			return err
		}
		return s.waitServing(ctx, "etcd", http.DefaultClient, clientURL+"/health", 30*time.Second)
	})
	return clientURL, err
}

// startAPIServer starts kube-apiserver on loopback with the certificates
// of p, storing in the etcd at etcdURL under prefix (the default,
// /registry, if empty), and waits until it is ready (waitAPIServer).
func (s *Stack) startAPIServer(ctx context.Context, p *pki, etcdURL, prefix string) error {
	return s.startOnFreePorts("kube-apiserver", 1, func(ports []int) error {
		s.logf("starting kube-apiserver on 127.0.0.1:%d", ports[0])
		args := []string{"--etcd-servers", etcdURL, "--secure-port", fmt.Sprint(ports[0]), "--bind-address", "127.0.0.1",
			"--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none",
			"--tls-cert-file", p.serverCert, "--tls-private-key-file", p.serverKey, "--client-ca-file", p.caCert,
			"--service-account-key-file", p.saPub, "--service-account-signing-key-file", p.saKey,
			"--service-account-issuer", "https://kubernetes.default.svc", "--service-cluster-ip-range", "10.96.0.0/16",
			"--authorization-mode", "RBAC", "--allow-privileged"}
		if prefix != "" {
			args = append(args, "--etcd-prefix", prefix)
		}
		if err := s.start("kube-apiserver", nil, args...); err != nil {
			return err
		}
		return s.waitAPIServer(ctx, p, ports[0])
	})
}

// waitAPIServer waits until the API server on port is ready, then writes
// the stack's admin kubeconfig and makes its clients.
func (s *Stack) waitAPIServer(ctx context.Context, p *pki, port int) (err error) {
	host := fmt.Sprintf("https://127.0.0.1:%d", port)
	if err := s.waitServing(ctx, "kube-apiserver", adminHTTPClient(p), host+"/readyz", 3*time.Minute); err != nil {
		return err
	}
	s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	if err := writeKubeconfig(s.Kubeconfig, host, p); err != nil {
		return err
	}
	if s.Config, err = clientcmd.BuildConfigFromFlags("", s.Kubeconfig); err != nil {
		return err
	}
	s.Config.QPS, s.Config.Burst = 100, 200
	s.Client, err = kubernetes.NewForConfig(s.Config)
	return err
}

func (s *Stack) logf(format string, args ...any) {
	if s.opts.Log != nil {
		fmt.Fprintf(s.opts.Log, "kube stack: "+format+"\n", args...)
	}
}

// start runs a binary with its output in logs/<name>.log.
func (s *Stack) start(name string, env []string, args ...string) error {
	logPath := filepath.Join(s.Dir, "logs", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.opts.BinDir, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// A group of its own, so that stopping reaches its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("kube stack: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return nil
}

// failed adds the tail of a process's log to an error.
func (s *Stack) failed(name string, err error) error {
	for _, p := range s.procs {
		if p.name == name {
			b, _ := os.ReadFile(p.log)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			return fmt.Errorf("kube stack: %s: %w\n--- %s ---\n%s", name, err, p.log, b)
		}
	}
	return fmt.Errorf("kube stack: %s: %w", name, err)
}

// Stop stops every process, newest first, by its process group.
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.procs = nil
	if s.git != nil {
		s.git.Close()
	}
}

// PeakMemory returns the peak resident memory of each process, in bytes.
func (s *Stack) PeakMemory() map[string]int64 {
	out := map[string]int64{}
	for _, p := range s.procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				out[p.name] = kb << 10
			}
		}
	}
	return out
}

// GitURL is the HTTP URL of a repository under Options.GitRoot.
func (s *Stack) GitURL(repo string) string { return "http://" + s.gitAddr + "/" + repo }

// serveGit serves root with git-http-backend on loopback.
func (s *Stack) serveGit(root string) error {
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.gitAddr = ln.Addr().String()
	s.git = &http.Server{Handler: &cgi.Handler{
		Path:   backend,
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
		Stderr: io.Discard,
	}, ReadHeaderTimeout: 10 * time.Second}
	go s.git.Serve(ln)
	return nil
}

// bindAttempts is how often startOnFreePorts starts a process.
const bindAttempts = 3

// startOnFreePorts calls start with n loopback ports that were free a
// moment ago; start starts the process called name on them and waits
// until it serves. Another process may take one of them before name binds
// it (a client's outgoing connection is given a port from the same
// range): when name exited because an address was in use, it is started
// again on fresh ports.
func (s *Stack) startOnFreePorts(name string, n int, start func(ports []int) error) error {
	for attempt := 1; ; attempt++ {
		ports, err := s.ports(n)
		if err != nil {
			return fmt.Errorf("kube stack: %s: %w", name, err)
		}
		err = start(ports)
		if err == nil || attempt == bindAttempts {
			return err
		}
		taken, ok := s.portTaken(name)
		if !ok {
			return err
		}
		s.logf("%s: %s; starting it again on other ports", name, taken)
	}
}

// portTaken reports whether the process called name exited because an
// address it was to listen on was in use, with the line of its log that
// says so. If it did, the stack forgets it and keeps its log as
// <name>.log.1.
func (s *Stack) portTaken(name string) (string, bool) {
	i := slices.IndexFunc(s.procs, func(p *process) bool { return p.name == name })
	if i < 0 {
		return "", false
	}
	p := s.procs[i]
	select {
	case <-p.done:
	default:
		return "", false
	}
	b, err := os.ReadFile(p.log)
	if err != nil {
		return "", false
	}
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, "address already in use") {
			s.procs = slices.Delete(s.procs, i, i+1)
			os.Rename(p.log, p.log+".1")
			return strings.TrimSpace(line), true
		}
	}
	return "", false
}

// freePorts reserves n loopback ports and frees them for the processes.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func adminHTTPClient(p *pki) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	cert, _ := tls.X509KeyPair(p.adminPEM, p.keyPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// waitServing polls url until it answers 200, and fails at once, with
// the tail of its log, when the process named name exits.
func (s *Stack) waitServing(ctx context.Context, name string, c *http.Client, url string, timeout time.Duration) error {
	var exited <-chan struct{}
	for _, p := range s.procs {
		if p.name == name {
			exited = p.done
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Another process that holds the port may never answer: the exit of
	// the one waited for ends the request too.
	request, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-exited:
			stop()
		case <-request.Done():
		}
	}()
	var last error
	for {
		req, _ := http.NewRequestWithContext(request, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return s.failed(name, fmt.Errorf("not ready after %s: %w", timeout, errors.Join(ctx.Err(), last)))
		case <-exited:
			return s.failed(name, errors.New("exited"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeKubeconfig(path, host string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["slipway-test"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminPEM, ClientKeyData: p.keyPEM}
	cfg.Contexts["slipway-test"] = &clientcmdapi.Context{Cluster: "slipway-test", AuthInfo: "admin"}
	cfg.CurrentContext = "slipway-test"
	return clientcmd.WriteToFile(*cfg, path)
}

// fakeNode is the node kwok runs pods on.
func fakeNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "kwok-node-0",
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels:      map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/hostname": "kwok-node-0", "type": "kwok"},
		},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{}},
	}
}
