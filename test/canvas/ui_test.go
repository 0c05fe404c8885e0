package canvas_test

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// uiEnv names the environment variable that holds the directory of
// KubeOrch's UI as `make kubeorch-ui` (test/canvas/buildui.sh) builds it.
const uiEnv = "KUBEORCH_UI_DIR"

// builtUI returns the directory of the built UI, and skips the test loudly
// when there is none; in CI, which must run it, the test fails instead.
func builtUI(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(uiEnv)
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is unset; CI builds KubeOrch's UI with make kubeorch-ui and sets it", uiEnv)
		}
		t.Skipf("SKIPPING KUBEORCH UI TEST: %s is unset (make kubeorch-ui builds the UI into .tools/kubeorch-ui; then %s=$PWD/.tools/kubeorch-ui)", uiEnv, uiEnv)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.js")); err != nil {
		t.Fatalf("%s=%s is not a built UI: %v", uiEnv, dir, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("%s is set, yet there is no node to run it: %v", uiEnv, err)
	}
	return dir
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startUI runs the UI's standalone Next.js server from dir on a free
// loopback port until the test ends, and returns its URL once its login
// page answers.
func startUI(t *testing.T, dir string) *url.URL {
	t.Helper()
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	logPath := filepath.Join(t.TempDir(), "ui.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "node", "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOSTNAME="+host, "PORT="+port, "NODE_ENV=production", "NEXT_TELEMETRY_DISABLED=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(exited) }()
	t.Cleanup(func() {
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("UI server log (%s), last 4 KB:\n%s", logPath, b[max(0, len(b)-4096):])
		}
	})
	u := &url.URL{Scheme: "http", Host: addr}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the UI server exited:\n%s", b)
		default:
		}
		if resp, err := http.Get(u.String() + "/login"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the UI server did not answer within a minute")
		}
	}
}

// apiPrefix is where the UI was built to find its API (NEXT_PUBLIC_API_URL).
const apiPrefix = "/v1/api"

// serveOneOrigin serves, on ln until the test ends, the UI and, under
// apiPrefix, the service, as one origin, as an ingress in front of both
// does: the UI calls its API at a relative URL. Responses are passed on as
// they come, so that the status stream streams.
func serveOneOrigin(t *testing.T, ln net.Listener, ui, api *url.URL) {
	t.Helper()
	proxy := func(to *url.URL) *httputil.ReverseProxy {
		return &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(to)
				r.SetXForwarded()
			},
			FlushInterval: -1,
		}
	}
	toUI, toAPI := proxy(ui), proxy(api)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == apiPrefix || strings.HasPrefix(r.URL.Path, apiPrefix+"/") {
			toAPI.ServeHTTP(w, r)
			return
		}
		toUI.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
