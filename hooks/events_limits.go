package hooks

import (
	"fmt"
	"sync"
)

// Defaults of EventsConfig: far below the open files a process gets, so
// that held streams leave room for deliveries, git and etcd; and enough
// streams per address for the browsers behind one NAT.
const (
	// DefaultMaxStreams is the default of EventsConfig.MaxStreams.
	DefaultMaxStreams = 1000
	// DefaultMaxStreamsPerClient is the default of
	// EventsConfig.MaxStreamsPerClient.
	DefaultMaxStreamsPerClient = 32
)

// EventsConfig bounds the event streams (/api/events, and the canvas
// editor's status streams). Each held stream costs a connection, a file
// descriptor and some memory, and anyone who may read can open one.
type EventsConfig struct {
	// MaxStreams is the most streams the replica holds at once.
	MaxStreams int `env:"HOOKS_EVENTS_MAX_STREAMS, default=1000"`
	// MaxStreamsPerClient is the most streams one client holds: a
	// signed-in user, or the address of an anonymous one.
	MaxStreamsPerClient int `env:"HOOKS_EVENTS_MAX_STREAMS_PER_CLIENT, default=32"`
}

// validate reports every invalid variable.
func (c EventsConfig) validate() []error {
	var errs []error
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("HOOKS_EVENTS_MAX_STREAMS: %d is not 1 or more", c.MaxStreams))
	}
	if c.MaxStreamsPerClient < 1 || c.MaxStreamsPerClient > c.MaxStreams {
		errs = append(errs, fmt.Errorf("HOOKS_EVENTS_MAX_STREAMS_PER_CLIENT: %d is not between 1 and HOOKS_EVENTS_MAX_STREAMS (%d)", c.MaxStreamsPerClient, c.MaxStreams))
	}
	return errs
}

// withDefaults fills in what is zero.
func (c EventsConfig) withDefaults() EventsConfig {
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxStreamsPerClient == 0 {
		c.MaxStreamsPerClient = min(DefaultMaxStreamsPerClient, c.MaxStreams)
	}
	return c
}

// Why a stream was refused, as the metrics label it.
const (
	refusedTotal  = "total"
	refusedClient = "client"
)

// errTooManyStreams is a refused stream; reason is refusedTotal or
// refusedClient.
type errTooManyStreams struct {
	reason string
	limit  int
	client streamClient
}

func (e *errTooManyStreams) Error() string {
	switch {
	case e.reason == refusedTotal:
		return fmt.Sprintf("the service holds %d event streams, the most it may; retry later", e.limit)
	case e.client.user != "":
		return fmt.Sprintf("you hold %d event streams, the most a user may; close one or retry later", e.limit)
	}
	return fmt.Sprintf("this address holds %d event streams, the most it may; close one or retry later", e.limit)
}

// streamClient is who a stream is counted against: a signed-in user, by
// id, wherever it connects from; else the peer's address. Behind an
// authenticating proxy every user shares the proxy's address, so a
// signed-in user's streams are never counted by address: one user cannot
// use up the streams of everyone behind the same proxy.
type streamClient struct {
	user string
	addr string
}

// streamLimits counts the held streams, in all and per client.
type streamLimits struct {
	cfg EventsConfig

	mu       sync.Mutex
	total    int
	byClient map[streamClient]int
}

func newStreamLimits(cfg EventsConfig) *streamLimits {
	return &streamLimits{cfg: cfg, byClient: map[streamClient]int{}}
}

// acquire takes a stream for client, or says why not; release gives it
// back.
func (l *streamLimits) acquire(client streamClient) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.cfg.MaxStreams:
		return nil, &errTooManyStreams{reason: refusedTotal, limit: l.cfg.MaxStreams, client: client}
	case l.byClient[client] >= l.cfg.MaxStreamsPerClient:
		return nil, &errTooManyStreams{reason: refusedClient, limit: l.cfg.MaxStreamsPerClient, client: client}
	}
	l.total++
	l.byClient[client]++
	return func() { l.release(client) }, nil
}

func (l *streamLimits) release(client streamClient) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byClient[client]--; l.byClient[client] == 0 {
		delete(l.byClient, client)
	}
}

// held returns the number of streams held.
func (l *streamLimits) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
