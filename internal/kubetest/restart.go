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
	h, err := s.Halt(name)
	if err != nil {
		return err
	}
	return h.Resume(ctx)
}

// Halted is a stopped process of a stack, to be started again.
type Halted struct {
	s    *Stack
	name string
	env  []string
	args []string
}

// Halt stops the named process (SIGTERM, then SIGKILL after 10 s) and
// keeps its log as <name>.log.1; Resume starts it again.
func (s *Stack) Halt(name string) (*Halted, error) {
	i := slices.IndexFunc(s.procs, func(p *process) bool { return p.name == name })
	if i < 0 {
		return nil, fmt.Errorf("kube stack: no process %s", name)
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
		return nil, err
	}
	// start adds env to the environment it was given at the time.
	env := p.cmd.Env[min(len(os.Environ()), len(p.cmd.Env)):]
	return &Halted{s: s, name: name, env: env, args: p.cmd.Args[1:]}, nil
}

// Resume starts the halted process again with the same arguments and
// waits until the API server answers.
func (h *Halted) Resume(ctx context.Context) error {
	if err := h.s.start(h.name, h.env, h.args...); err != nil {
		return err
	}
	err := poll(ctx, 90*time.Second, func() (bool, error) {
		_, err := h.s.Client.Discovery().ServerVersion()
		return err == nil, nil
	})
	if err != nil {
		return h.s.failed(h.name, fmt.Errorf("not serving after a restart: %w", err))
	}
	return nil
}
