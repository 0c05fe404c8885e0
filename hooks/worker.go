package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/store"
)

// deployLock serialises pushes to the deploy branch across replicas.
const deployLock = "deploy-branch"

// doneTTL is how long the effect of a job is remembered.
const doneTTL = 7 * 24 * time.Hour

// Deployer is what the worker needs to deploy.
type Deployer interface {
	Deploy(ctx context.Context) (*gitrepo.DeployResult, error)
}

// Worker runs queued deploy jobs while its replica leads. Jobs run at
// least once; a job whose effect is recorded is completed without running
// again, so a job runs once to effect.
type Worker struct {
	store    *store.Store
	deployer Deployer
	id       string
	log      *slog.Logger
	// Poll is how often an idle worker looks for jobs.
	Poll time.Duration
	// DeployInterval is the least time between the starts of two deploys.
	// A deploy covers every push delivered before it starts, so under a
	// burst of pushes waiting lets one deploy cover many, and spares the
	// receiver's share of the machine.
	DeployInterval time.Duration
	lastDeploy     time.Time
	// Deployed is called after each deploy, for metrics and tests.
	Deployed func(job *store.Job, res *gitrepo.DeployResult, took time.Duration)
	// Reviewer handles review jobs; without one they stay queued.
	Reviewer *Reviewer
}

// NewWorker returns a worker named id.
func NewWorker(s *store.Store, d Deployer, id string, log *slog.Logger) *Worker {
	return &Worker{store: s, deployer: d, id: id, log: log, Poll: 50 * time.Millisecond, DeployInterval: 100 * time.Millisecond}
}

// Run campaigns for leadership and then runs jobs until ctx ends. When
// this replica's session dies, another replica's campaign succeeds.
func (w *Worker) Run(ctx context.Context) error {
	sess, err := w.store.NewSession(ctx, 5*time.Second)
	if err != nil {
		return err
	}
	defer sess.Close(context.WithoutCancel(ctx))
	if _, err := sess.Campaign(ctx, "worker", w.id); err != nil {
		return err
	}
	w.log.Info("leading the job queue", slog.String("worker", w.id))
	for ctx.Err() == nil {
		job, err := w.store.Claim(ctx, w.id, sess.Lease)
		if errors.Is(err, store.ErrEmpty) {
			select {
			case <-ctx.Done():
			case <-time.After(w.Poll):
			}
			continue
		}
		if err != nil {
			w.log.Error("claim", slog.String("error", err.Error()))
			time.Sleep(w.Poll)
			continue
		}
		if err := w.handle(ctx, sess, job); err != nil {
			w.log.Error("job failed; it will run again", slog.String("job", job.ID), slog.String("kind", job.Kind), slog.Int("attempt", job.Attempts), slog.String("error", err.Error()))
			continue // the claim stays until the session ends: another run retries
		}
		if err := w.store.Complete(ctx, job); err != nil {
			w.log.Error("complete", slog.String("job", job.ID), slog.String("error", err.Error()))
		}
	}
	return nil
}

func (w *Worker) handle(ctx context.Context, sess *store.Session, job *store.Job) error {
	done, err := w.store.Done(ctx, job.Key)
	if err != nil || done {
		return err
	}
	switch job.Kind {
	case JobDeploy:
		unlock, err := sess.Lock(ctx, deployLock)
		if err != nil {
			return err
		}
		defer unlock(context.WithoutCancel(ctx))
		if wait := time.Until(w.lastDeploy.Add(w.DeployInterval)); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		began := time.Now()
		w.lastDeploy = began
		res, err := w.deployer.Deploy(ctx)
		if err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if _, err := w.store.MarkDone(ctx, job.Key, doneTTL); err != nil {
			return err
		}
		// The deploy read the branch head after every push delivered
		// before it began: those deploy jobs are done too.
		if n, err := w.store.CompleteBefore(ctx, JobDeploy, began); err != nil {
			w.log.Warn("coalesce deploy jobs", slog.String("error", err.Error()))
		} else if n > 1 {
			w.log.Info("deploy covered queued pushes", slog.Int("jobs", n-1))
		}
		w.log.Info("deployed", slog.String("job", job.ID), slog.String("source", res.SourceCommit), slog.String("deploy", res.DeployCommit), slog.Bool("committed", res.Committed), slog.Duration("took", time.Since(began)))
		if w.Deployed != nil {
			w.Deployed(job, res, time.Since(job.Enqueued))
		}
		return nil
	case JobReview:
		if w.Reviewer == nil {
			return errors.New("no reviewer: set HOOKS_GITHUB_TOKEN; the job stays queued")
		}
		var rj ReviewJob
		if err := json.Unmarshal(job.Payload, &rj); err != nil {
			return fmt.Errorf("review job: %w", err)
		}
		if err := w.Reviewer.Review(ctx, rj); err != nil {
			return err
		}
		_, err := w.store.MarkDone(ctx, job.Key, doneTTL)
		return err
	default:
		return fmt.Errorf("no handler for %s jobs", job.Kind)
	}
}
