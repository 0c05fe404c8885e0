// Package store keeps the webhook service's state in etcd: deliveries
// already handled, a durable job queue, locks and leader election. It runs
// an embedded etcd server in a data directory by default, or uses an
// external cluster. It holds no business rules.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
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
}

// Store is a connection to etcd, and the embedded server if it runs one.
type Store struct {
	client    *clientv3.Client
	server    *embed.Etcd
	prefix    string
	closeOnce sync.Once
	closeErr  error
	// batch feeds EnqueueOnce calls to the batcher; stop ends it.
	batch  chan *enqueueRequest
	stop   chan struct{}
	leases leases
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
		e, err := startEmbedded(ctx, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		s.server = e
		endpoints = []string{e.Clients[0].Addr().String()}
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: context.WithoutCancel(ctx), Logger: zap.NewNop()})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect to %v: %w", endpoints, err)
	}
	s.client = c
	if err := s.Ready(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.initLowMark(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.batch, s.stop = make(chan *enqueueRequest), make(chan struct{})
	for range committers {
		go s.runBatcher(s.stop)
	}
	return s, nil
}

// Close closes the connection and stops the embedded server; closing
// again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
		}
		if s.client != nil {
			s.closeErr = s.client.Close()
		}
		if s.server != nil {
			s.server.Close()
			<-s.server.Server.StopNotify()
		}
	})
	return s.closeErr
}

// Endpoints returns the etcd client endpoints the store uses, so that
// another process can share an embedded server.
func (s *Store) Endpoints() []string { return s.client.Endpoints() }

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

// ports are the embedded server's ports, kept in its data directory so
// that a restart finds its member where it was.
type ports struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
}

// startEmbedded starts etcd in dir, listening on loopback only.
func startEmbedded(ctx context.Context, dir string) (*embed.Etcd, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	p, err := loadPorts(filepath.Join(dir, "ports.json"))
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.Name = "slipway"
	// etcd reports its own shutdown as errors; failures reach callers
	// through Err and the client instead.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// Queue keys come and go all the time: compact history older than
	// compactAfter, so that the index and the database stay small.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = compactAfter.String()
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p.Client)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p.Peer)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: start embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("store: embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("store: embedded etcd did not start in 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}

// loadPorts reads the embedded server's ports, or picks free ones and
// writes them.
func loadPorts(file string) (ports, error) {
	var p ports
	if b, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(b, &p); err != nil {
			return p, fmt.Errorf("store: %s: %w", file, err)
		}
		return p, nil
	}
	for _, port := range []*int{&p.Client, &p.Peer} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return p, fmt.Errorf("store: %w", err)
		}
		*port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	b, _ := json.Marshal(p)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return p, fmt.Errorf("store: %w", err)
	}
	return p, nil
}
