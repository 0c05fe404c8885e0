package faults_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// process is a child process, killed with SIGKILL and started again,
// whose output is appended to a log file.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// run starts cmd with its output appended to the file at logPath, without
// waiting for it.
func (p *process) run(t *testing.T, cmd *exec.Cmd, logPath string) {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatal(err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		log.Close()
		close(exited)
	}(p.cmd, p.exited)
}

// kill kills the process with SIGKILL, if it runs, and waits until it is
// gone.
func (p *process) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// running reports whether the process was started and has not exited.
func (p *process) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}
