// Package hookstest runs cmd/hooks as a process for tests that drive the
// service as a team runs it: configured by its environment, on a loopback
// port, stopped with SIGTERM when the test ends.
package hookstest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Service is cmd/hooks running as a process.
type Service struct {
	// URL is where it serves, http://127.0.0.1:port.
	URL string
	// Log is the path of the file its output goes to.
	Log string
	// PID is its process id.
	PID int
}

// Start builds cmd/hooks of the module at root and runs it with env added
// to its environment, on a free loopback port and a data directory of its
// own, until the test ends; it returns once /readyz answers 200. The end
// of its log is shown when the test fails.
func Start(tb testing.TB, root string, env ...string) *Service {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "hooks")
	build := exec.CommandContext(tb.Context(), "go", "build", "-o", bin, "./cmd/hooks")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build cmd/hooks: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Service{URL: "http://" + addr, Log: filepath.Join(dir, "hooks.log")}
	logFile, err := os.Create(s.Log)
	if err != nil {
		tb.Fatal(err)
	}
	// The test's context ends before its cleanups run: that stops the
	// service, and its children, with SIGTERM.
	cmd := exec.CommandContext(tb.Context(), bin)
	cmd.Env = append(os.Environ(), append([]string{"HOOKS_ADDR=" + addr, "HOOKS_DATA_DIR=" + filepath.Join(dir, "data")}, env...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s.PID = cmd.Process.Pid
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); logFile.Close(); close(exited) }()
	tb.Cleanup(func() {
		<-exited
		if tb.Failed() {
			b, _ := os.ReadFile(s.Log)
			tb.Logf("hooks log (%s), last 4 KB:\n%s", s.Log, b[max(0, len(b)-4096):])
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			b, _ := os.ReadFile(s.Log)
			tb.Fatalf("hooks exited: %v\n%s", waitErr, b)
		default:
		}
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("hooks not ready within a minute")
		}
	}
}
