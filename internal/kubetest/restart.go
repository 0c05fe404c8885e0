package kubetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// Restart stops the named process and starts it again with the same
// arguments, keeping its earlier log as <name>.log.1, and waits until the
// API server answers again: what a restart of a control-plane process
// looks like to clients.
func (s *Stack) Restart(ctx context.Context, name string) error {
	i := slices.IndexFunc(s.procs, func(p *process) bool { return p.name == name })
	if i < 0 {
		return fmt.Errorf("kube stack: no process %s", name)
	}
	p := s.procs[i]
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	s.procs = slices.Delete(s.procs, i, i+1)
	if err := os.Rename(p.log, p.log+".1"); err != nil {
		return err
	}
	// start adds env to the environment it was given at the time.
	env := p.cmd.Env[min(len(os.Environ()), len(p.cmd.Env)):]
	if err := s.start(name, env, p.cmd.Args[1:]...); err != nil {
		return err
	}
	err := poll(ctx, 90*time.Second, func() (bool, error) {
		_, err := s.Client.Discovery().ServerVersion()
		return err == nil, nil
	})
	if err != nil {
		return s.failed(name, fmt.Errorf("not serving after a restart: %w", err))
	}
	return nil
}
