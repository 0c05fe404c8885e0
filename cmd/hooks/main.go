// Command hooks is Slipway's webhook service: it verifies GitHub webhook
// deliveries, queues their work in etcd (embedded by default) and deploys
// pushes to the source branch. Configuration comes from the environment
// (see docs/service.md).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/sethvargo/go-envconfig"
	// The image has no certificate store: GitHub's and registries' TLS
	// certificates are checked against Mozilla's roots built in, used only
	// where the system has none.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/slipway-gitops/slipway/hooks"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise.
const defaultMemoryLimit = 128 << 20

func main() {
	// Deliveries allocate briskly and live briefly: under load, collecting
	// garbage half as often gives a fifth more throughput and a lower p99
	// for about 90 MB more memory (make load). GOGC and GOMEMLIMIT in the
	// environment take precedence.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	// That growth stops at a soft limit: watching 5,100 objects the heap
	// holds about 70 MB, which GOGC alone let grow to 180 MB beside the
	// 64 MB of this binary's code that stay resident (make scale-bench).
	// Watching many more objects, raise GOMEMLIMIT: a heap that nears the
	// limit is collected ever more often.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, log, nil); err != nil {
		log.Error("hooks stopped", slog.String("error", err.Error()))
		stop()
		os.Exit(1)
	}
}

// run reads the configuration from lookup (the environment when nil),
// builds the service and serves until ctx ends or a part of it fails.
func run(ctx context.Context, log *slog.Logger, lookup envconfig.Lookuper) error {
	cfg, err := hooks.LoadConfig(ctx, lookup)
	if err != nil {
		return err
	}
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.close()
	return svc.serve(ctx)
}
