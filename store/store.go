// Package store keeps the webhook service's state in etcd: a durable work
// queue (Queue) with the deliveries already handled, sessions with their
// locks and leader election, and status records. It runs
// an embedded etcd server in a data directory by default, or uses an
// external cluster. It holds no business rules.
package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Config says which etcd to use.
type Config struct {
	// Endpoints of an external etcd cluster; empty starts an embedded
	// server in DataDir.
	Endpoints []string
	// DataDir holds the embedded server's data.
	DataDir string
	// Prefix is put before every key; it defaults to /slipway/.
	Prefix string
	// Logger receives the embedded server's warnings and errors; nil
	// discards them.
	Logger *slog.Logger
}

// ErrDamaged means the embedded etcd's data directory is damaged: Open
// refuses it rather than hang, crash or start with empty state.
var ErrDamaged = errors.New("the embedded etcd's data is damaged")

// Store is a connection to etcd, and the embedded server if it runs one.
type Store struct {
	client    *clientv3.Client
	endpoints []string
	server    *embed.Etcd
	etcdLog   *etcdLog
	prefix    string
	closeOnce sync.Once
	closeErr  error
	queue     *Queue
	// stop ends the queue's batchers.
	stop chan struct{}
}

// Open connects to etcd, starting the embedded server when no endpoints
// are given.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{prefix: cfg.Prefix}
	if s.prefix == "" {
		s.prefix = "/slipway/"
	}
	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		if cfg.DataDir == "" {
			return nil, errors.New("store: a data directory is required for the embedded etcd")
		}
		s.etcdLog = newEtcdLog(cfg.Logger)
		e, err := startEmbedded(ctx, cfg.DataDir, s.etcdLog)
		if err != nil {
			return nil, err
		}
		s.server = e
		s.endpoints = []string{e.Clients[0].Addr().String()}
		// The embedded server is called in process, not through gRPC over
		// loopback: about a third of the service's CPU under load went to the
		// two gRPC transports and their goroutine hand-offs (make load). Its
		// client port stays open for other processes (Endpoints).
		s.client = v3client.New(e.Server)
	} else {
		c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: context.WithoutCancel(ctx), Logger: zap.NewNop()})
		if err != nil {
			return nil, fmt.Errorf("store: connect to %v: %w", endpoints, err)
		}
		s.client, s.endpoints = c, endpoints
	}
	if err := s.Ready(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.queue = &Queue{client: s.client, prefix: s.prefix, batch: make(chan *enqueueRequest)}
	if err := s.queue.initLowMark(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.stop = make(chan struct{})
	for range committers {
		go s.queue.runBatcher(s.stop)
	}
	return s, nil
}

// Queue returns the store's work queue.
func (s *Store) Queue() *Queue { return s.queue }

// Close closes the connection and stops the embedded server; closing
// again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
		}
		if s.client != nil {
			s.closeErr = s.client.Close()
			if s.server != nil && errors.Is(s.closeErr, context.Canceled) {
				s.closeErr = nil // an in-process client's Close reports its own cancelled context
			}
		}
		if s.server != nil {
			s.etcdLog.quiet.Store(true)
			s.server.Close()
			<-s.server.Server.StopNotify()
		}
	})
	return s.closeErr
}

// Endpoints returns the etcd client endpoints the store uses, so that
// another process can share an embedded server.
func (s *Store) Endpoints() []string { return slices.Clone(s.endpoints) }

// Ready reports whether etcd answers.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.client.Get(ctx, s.prefix+"ready", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("store: etcd does not answer: %w", err)
	}
	return nil
}

// compactAfter is how much history the embedded server keeps.
const compactAfter = 5 * time.Minute

// catchUpEntries is how many applied entries the embedded server keeps in
// memory after each of its snapshots (etcd takes one every 100 entries).
const catchUpEntries = 100

// startTimeout bounds the embedded server's start.
const startTimeout = 60 * time.Second

// memberFile, in the data directory, holds the id of the etcd member that
// ran there, so that a member directory gone or replaced is noticed.
const memberFile = "member.id"

// startEmbedded starts etcd in dir, listening on loopback only.
func startEmbedded(ctx context.Context, dir string, log *etcdLog) (*embed.Etcd, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := checkDataDir(ctx, dir); err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.Name = "slipway"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(log.zap())
	// Queue keys come and go all the time: compact history older than
	// compactAfter, so that the index and the database stay small.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = compactAfter.String()
	// The embedded server is a cluster of one: no follower ever needs to
	// catch up from its in-memory raft log, which would otherwise keep the
	// last 5,000 entries, whole status records included (about 160 MB of
	// heap after 12,000 writes of 15 KB; go test -bench StatusWrites ./store).
	cfg.SnapshotCatchUpEntries = catchUpEntries
	// The kernel picks the ports at every start: a port kept from the last
	// run can be taken by then. The member's peer URL stays the same (port
	// 0): a cluster of one never dials it.
	clientURL := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	peerURL := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	// The member's id is derived from its peer URLs and this token when
	// the directory is new (later starts read it from the log): a token of
	// its own makes every data directory's member id its own, so that
	// recordMember notices a member directory brought from elsewhere.
	cfg.InitialClusterToken = "slipway-" + rand.Text()

	// StartEtcd takes no context and may block on a damaged directory:
	// it runs aside. A server Open gives up on is closed aside too: one
	// whose goroutines etcd's log stopped (etcdLog.OnWrite) never finishes
	// closing, and Open returns at once whatever the server does.
	started := make(chan *embed.Etcd, 1)
	failed := make(chan error, 1)
	go func() {
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			failed <- err
			return
		}
		started <- e
	}()
	giveUp := func(e *embed.Etcd, err error) (*embed.Etcd, error) {
		log.quiet.Store(true)
		go func() {
			if e == nil {
				select {
				case e = <-started:
				case <-failed:
					return
				}
			}
			e.Close()
		}()
		return nil, err
	}
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	var e *embed.Etcd
	// ready and stopped are the server's, nil until StartEtcd returns it.
	var ready <-chan struct{}
	var stopped <-chan error
	for {
		select {
		case e = <-started:
			ready, stopped = e.Server.ReadyNotify(), e.Err()
			continue
		case <-ready:
		case err := <-failed:
			return nil, fmt.Errorf("store: start embedded etcd in %s: %w", dir, err)
		case err := <-stopped:
			return giveUp(e, fmt.Errorf("store: embedded etcd in %s: %w", dir, err))
		case msg := <-log.fatal:
			return giveUp(e, damaged(dir, "etcd stopped: %s", msg))
		case <-timeout.C:
			return giveUp(e, fmt.Errorf("store: embedded etcd in %s did not start in %s", dir, startTimeout))
		case <-ctx.Done():
			return giveUp(e, fmt.Errorf("store: start embedded etcd in %s: %w", dir, ctx.Err()))
		}
		break
	}
	if err := recordMember(dir, e.Server.MemberID().String()); err != nil {
		return giveUp(e, err)
	}
	log.started.Store(true)
	return e, nil
}

// recordMember writes the member's id into the data directory on its
// first start, and checks it on the next ones.
func recordMember(dir, id string) error {
	file := filepath.Join(dir, memberFile)
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.WriteFile(file, []byte(id+"\n"), 0o600); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("store: %w", err)
	}
	if got := strings.TrimSpace(string(b)); got != id {
		return damaged(dir, "its etcd member is %s, not %s that ran here before (%s says so)", id, got, memberFile)
	}
	return nil
}

// damaged returns an ErrDamaged error that names the data directory and
// says what to do.
func damaged(dir, format string, args ...any) error {
	return fmt.Errorf("store: data directory %s: %s: %w; restore the directory from a backup, or move it away to start with empty state (deliveries handled before would then be accepted again)",
		dir, fmt.Sprintf(format, args...), ErrDamaged)
}
