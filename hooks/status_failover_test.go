package hooks

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/internal/deploytest"
)

// TestStatusFailover: two replicas share etcd; when the leader stops, the
// other takes over the watches and a page streaming from it sees its
// records.
func TestStatusFailover(t *testing.T) {
	t.Parallel()
	st, base := serveStatus(t, ReadAccess{})
	repo, _ := deploytest.Deploy(t, "../fixtures/e2e", "")
	replica := func(id string, contexts map[string]*rest.Config) (stop func()) {
		pub := &StatusPublisher{Store: st, Deploy: repo, DeployBranch: "deploy", Source: repo,
			Contexts: func([]string) (map[string]*rest.Config, error) { return contexts, nil },
			ID:       id, Log: slog.New(slog.DiscardHandler), MinWrite: time.Millisecond, Refresh: 200 * time.Millisecond}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- pub.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stopA := replica("a", nil)
	waitLeader := func(want string) {
		t.Helper()
		for range 200 {
			if id, _ := st.Leader(t.Context(), "status"); id == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s does not lead", want)
	}
	waitLeader("a")
	// Replica b knows the cluster by a context no server answers on, so
	// its records differ from a's: they say the cluster cannot be read.
	stopB := replica("b", map[string]*rest.Config{"default": {Host: "https://127.0.0.1:1", Timeout: time.Second}})
	defer stopB()
	ev := openEvents(t, base+"/api/events")
	for {
		if e := ev.next(t); e.kind == "cluster" && strings.Contains(e.data, `"watched":false`) {
			break
		}
	}
	began := time.Now()
	stopA()
	for {
		if e := ev.next(t); e.kind == "cluster" && strings.Contains(e.data, `"watched":true`) {
			break
		}
	}
	t.Logf("the other replica's records streamed %s after the leader stopped", time.Since(began).Round(time.Millisecond))
}
