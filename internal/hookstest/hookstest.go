// Package hookstest runs cmd/hooks as a process for tests, on a loopback
// address and a data directory that outlive the process: killed and
// started again, it is the same replica, as a restarted pod is.
package hookstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build builds cmd/hooks of the module at root into a temporary
// directory and returns the binary's path.
func Build(t testing.TB, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hooks")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/hooks")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/hooks: %v\n%s", err, out)
	}
	return bin
}

// Service is cmd/hooks running as a process.
type Service struct {
	// URL is where it serves.
	URL string
	// Log is the file its output is appended to, across restarts.
	Log string

	t      testing.TB // the test that started it, whose context requests use
	bin    string
	env    []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs bin with env added to its environment (HOOKS_ADDR and
// HOOKS_DATA_DIR are set) until the test ends, and returns once it is
// ready.
func Start(t testing.TB, bin string, env ...string) *Service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	s := &Service{
		URL: "http://" + addr, Log: filepath.Join(dir, "hooks.log"), t: t, bin: bin,
		env: append([]string{"HOOKS_ADDR=" + addr, "HOOKS_DATA_DIR=" + filepath.Join(dir, "data")}, env...),
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.Log)
			t.Logf("hooks log (%s), last 4 KB:\n%s", s.Log, b[max(0, len(b)-4096):])
		}
	})
	s.Restart(t)
	return s
}

// Restart starts the service again, on the same address and data
// directory, with env added to what it was started with (a variable set
// again takes the new value), and waits until it is ready; t is the test
// (or subtest) that restarts it.
func (s *Service) Restart(t testing.TB, env ...string) {
	t.Helper()
	s.env = append(s.env, env...)
	log, err := os.OpenFile(s.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			b, _ := os.ReadFile(s.Log)
			t.Fatalf("hooks exited:\n%s", b[max(0, len(b)-4096):])
		default:
		}
		if code, _ := s.Call(http.MethodGet, "/readyz", "", nil, nil); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("hooks not ready within two minutes")
		}
	}
}

// PID is the process id of the running service; 0 when it is stopped.
func (s *Service) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill kills the service with SIGKILL, as a node's failure does, and
// waits until it is gone.
func (s *Service) Kill() { s.signal(syscall.SIGKILL) }

// Stop stops the service with SIGTERM (SIGKILL after 10 s), as a
// rollout does, and waits until it is gone.
func (s *Service) Stop() { s.signal(syscall.SIGTERM) }

func (s *Service) signal(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, sig)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
}

// Deliver posts a GitHub webhook delivery signed with secret, as GitHub
// signs it, and returns the reply's status and result.
func (s *Service) Deliver(secret, event, id string, body []byte) (int, string, error) {
	return Deliver(s.t.Context(), s.URL, secret, event, id, body)
}

// Deliver posts a GitHub webhook delivery signed with secret, as GitHub
// signs it, to the service at url, within 30 seconds or ctx's deadline,
// and returns the reply's status (0 when no reply came) and result.
func Deliver(ctx context.Context, url, secret, event, id string, body []byte) (int, string, error) {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var reply struct {
		Result string `json:"result"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&reply)
	return resp.StatusCode, reply.Result, err
}

// Metric returns the value of a metric without labels from /metrics,
// and whether the service reports it.
func (s *Service) Metric(name string) (float64, bool) {
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// Call sends a request with body (JSON, when not nil) and a bearer token
// (when not empty), decodes the answer into out (when not nil) and
// returns its status; 0 when the request failed.
func (s *Service) Call(method, path, token string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.URL+path, r)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %s: %w: %s", method, path, resp.Status, err, b)
		}
	}
	return resp.StatusCode, nil
}
