// Command kubestack starts the test Kubernetes and Flux stack in the
// background for people (make kube-up) and stops it (make kube-down); its
// demo command starts the stack with Flux bootstrapped on a workflows
// repository and the webhook service on it (make demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-gitops/slipway/internal/kubetest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kubestack:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: kubestack up|down|serve|demo|serve-demo --dir DIR [--bin DIR] [demo flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".kube-stack", "state directory: kubeconfig, logs, pid file")
	bin := fs.String("bin", ".tools/kube/bin", "directory of the stack's binaries")
	var demo demoConfig
	if args[0] == "demo" || args[0] == "serve-demo" {
		demo.flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(abs, "kubestack.pid")
	demo.dir = abs
	switch args[0] {
	case "up":
		return up(abs, pidFile, stdout, []string{"serve", "--dir", abs, "--bin", *bin}, func(w io.Writer) {
			printUsage(w, filepath.Join(abs, "kubeconfig"), *bin)
		})
	case "down":
		return down(pidFile, stdout)
	case "serve":
		return serve(abs, *bin, pidFile)
	case "demo":
		if err := demo.abs(); err != nil {
			return err
		}
		return up(abs, pidFile, stdout, append([]string{"serve-demo", "--dir", abs, "--bin", *bin}, demo.args()...), demo.usage)
	case "serve-demo":
		return serveDemo(abs, *bin, pidFile, demo)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// running returns the pid of a live stack, or 0.
func running(pidFile string) int {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// up starts this program with serveArgs in the background, unless the
// pid file names a live one, and waits until it says it is ready; usage
// prints how to use what runs.
func up(dir, pidFile string, stdout io.Writer, serveArgs []string, usage func(io.Writer)) error {
	if pid := running(pidFile); pid != 0 {
		fmt.Fprintf(stdout, "already running (pid %d)\n", pid)
		usage(stdout)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(dir, "kubestack.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, serveArgs...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	// An exited child stays a zombie, which signal 0 still reaches, until
	// it is waited for.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	ready := filepath.Join(dir, "ready")
wait:
	for deadline := time.Now().Add(8 * time.Minute); time.Now().Before(deadline); {
		if _, err := os.Stat(ready); err == nil {
			fmt.Fprintf(stdout, "running (pid %d)\n", cmd.Process.Pid)
			usage(stdout)
			return nil
		}
		select {
		case <-exited:
			break wait
		case <-time.After(250 * time.Millisecond):
		}
	}
	// Whatever did start is stopped: a second try starts afresh.
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	b, _ := os.ReadFile(log.Name())
	return fmt.Errorf("it did not start; %s says:\n%s", log.Name(), b)
}

func printUsage(w io.Writer, kubeconfig, bin string) {
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n  %s/kubectl get nodes,pods -A\n  make kube-down   # stops it\n", kubeconfig, bin)
}

func down(pidFile string, stdout io.Writer) error {
	pid := running(pidFile)
	if pid == 0 {
		fmt.Fprintln(stdout, "not running")
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			fmt.Fprintln(stdout, "stopped")
			return os.Remove(pidFile)
		}
	}
	return fmt.Errorf("pid %d did not stop", pid)
}

// serve runs the stack until SIGTERM or SIGINT.
func serve(dir, bin, pidFile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	git := filepath.Join(dir, "git")
	if err := os.MkdirAll(git, 0o755); err != nil {
		return err
	}
	s, err := kubetest.Start(ctx, kubetest.Options{BinDir: bin, Dir: filepath.Join(dir, "state"), GitRoot: git, Flux: true, Log: os.Stdout})
	if err != nil {
		return err
	}
	defer s.Stop()
	if err := os.Symlink(s.Kubeconfig, filepath.Join(dir, "kubeconfig")); err != nil {
		return err
	}
	fmt.Printf("git repositories under %s are served at %s\n", git, s.GitURL(""))
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
