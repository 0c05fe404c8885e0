package hooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/store"
)

// SignalDeploy is the signal a push to the source branch raises, and a
// restore: the source may have changed, so the deploy branch should be
// converged now rather than at the next resync.
const SignalDeploy = "deploy"

// deployLock serialises pushes to the deploy branch across replicas.
const deployLock = "deploy-branch"

// Bounds of the worker's work.
const (
	// deployTimeout bounds one convergence, so that a remote that accepts
	// a connection and never answers cannot stop deploys for good.
	deployTimeout = 10 * time.Minute
	// failedTTL is how long a job that failed for good stays on record.
	failedTTL = 7 * 24 * time.Hour
	// sessionTTL is how long the worker's claims, lock and leadership
	// outlive it when it dies without closing its session.
	sessionTTL = 5 * time.Second
)

// Defaults of the worker's job execution.
const (
	// DefaultJobTimeout bounds one attempt of a job.
	DefaultJobTimeout = 5 * time.Minute
	// DefaultJobConcurrency is how many jobs run at once.
	DefaultJobConcurrency = 4
)

// Deployer is what the worker needs to deploy.
type Deployer interface {
	Deploy(ctx context.Context) (*deployer.Result, error)
}

// Sessions is what the worker needs of the store (*store.Store): to lead
// on a session, which its claims, lock and leadership live with.
type Sessions interface {
	Lead(ctx context.Context, ttl time.Duration, name, id string, follow func(ctx context.Context, sess *store.Session) error) error
}

// WorkQueue is what the worker needs of the queue (*store.Queue): the
// deploy signal, and claiming and settling jobs.
type WorkQueue interface {
	Signalled(ctx context.Context, name string) (rev int64, at time.Time, err error)
	Claim(ctx context.Context, sess *store.Session, worker string) (*store.Job, error)
	Release(ctx context.Context, j *store.Job, notBefore time.Time, reason string) error
	Complete(ctx context.Context, j *store.Job) error
	Fail(ctx context.Context, j *store.Job, reason string, ttl time.Duration) error
}

var (
	_ Sessions  = (*store.Store)(nil)
	_ WorkQueue = (*store.Queue)(nil)
)

// WorkerConfig configures a Worker. A zero Poll, ResyncInterval,
// RetryMin, JobAttempts, JobTimeout or JobConcurrency takes its default.
type WorkerConfig struct {
	// Sessions and Queue are the store's; Deployer converges the deploy
	// branch.
	Sessions Sessions
	Queue    WorkQueue
	Deployer Deployer
	// ID names the worker in elections and claims; Log receives its log.
	ID  string
	Log *slog.Logger
	// Poll is how often an idle worker looks for signals and jobs
	// (default 50ms).
	Poll time.Duration
	// DeployInterval is the least time between the starts of two
	// convergences: pushes delivered meanwhile share the next one. Zero
	// is none.
	DeployInterval time.Duration
	// ResyncInterval is how often the deploy branch is converged without
	// a signal, and the longest wait before retrying a failure (default
	// 1m).
	ResyncInterval time.Duration
	// RetryMin is the wait before the first retry of a failed convergence
	// or job attempt; each further failure doubles it, up to
	// ResyncInterval (default 1s).
	RetryMin time.Duration
	// JobAttempts is how often a job is tried before it is recorded as
	// failed (default 5).
	JobAttempts int
	// JobTimeout bounds one attempt of a job, and the report of its
	// failure (default DefaultJobTimeout).
	JobTimeout time.Duration
	// JobConcurrency is how many jobs run at once (default
	// DefaultJobConcurrency), so that a slow job does not hold the others.
	JobConcurrency int
	// Deployed, when set, is called after each successful convergence,
	// for metrics and tests, with the time since the newest push delivery
	// it covers (zero when it covers none: at start, on resync or retry).
	Deployed func(res *deployer.Result, sinceDelivery time.Duration)
	// Reviewer handles review jobs; without one they fail at once.
	Reviewer *Reviewer
	// Builds handles build-push jobs; without it they fail at once.
	Builds Builds
}

// Worker does the leading replica's work. Deploying is level-triggered,
// as Flux's controllers are: the worker converges the deploy branch to
// the compiled head of the source branch when it starts leading, after
// every push delivery (a signal that the source may have changed, not a
// unit of work), after a failure with backoff, and every ResyncInterval,
// so that a lost webhook delays a deploy but never loses it. Queued jobs
// (pull-request reviews) run beside it, up to JobConcurrency at once, each
// by the handler of its kind for at most JobTimeout, attempted a bounded
// number of times with backoff and then recorded as failed; no job can
// hold up a deploy or another job.
type Worker struct {
	cfg      WorkerConfig
	handlers map[store.JobKind]JobHandler

	mu         sync.Mutex
	status     DeployStatus
	failedJobs map[store.JobKind]int
}

// NewWorker returns a worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Sessions == nil || cfg.Queue == nil || cfg.Deployer == nil || cfg.ID == "" || cfg.Log == nil {
		return nil, errors.New("worker: sessions, a queue, a deployer, an id and a log are required")
	}
	if cfg.Poll < 0 || cfg.DeployInterval < 0 || cfg.ResyncInterval < 0 || cfg.RetryMin < 0 || cfg.JobAttempts < 0 || cfg.JobTimeout < 0 || cfg.JobConcurrency < 0 {
		return nil, errors.New("worker: durations and attempts must not be negative")
	}
	cfg.Poll = cmp.Or(cfg.Poll, 50*time.Millisecond)
	cfg.ResyncInterval = cmp.Or(cfg.ResyncInterval, time.Minute)
	cfg.RetryMin = cmp.Or(cfg.RetryMin, time.Second)
	cfg.JobAttempts = cmp.Or(cfg.JobAttempts, 5)
	cfg.JobTimeout = cmp.Or(cfg.JobTimeout, DefaultJobTimeout)
	cfg.JobConcurrency = cmp.Or(cfg.JobConcurrency, DefaultJobConcurrency)
	return &Worker{cfg: cfg, handlers: jobHandlers(cfg), failedJobs: map[store.JobKind]int{}}, nil
}

// DeployStatus is the state of the deploy branch's convergence, as this
// replica's worker last saw it.
type DeployStatus struct {
	// Leading is whether this replica's worker deploys; the others report
	// nothing else.
	Leading bool `json:"leading"`
	// SourceCommit is the source head the last successful convergence
	// compiled, and DeployCommit the deploy branch's head after it.
	SourceCommit string `json:"source_commit,omitempty"`
	DeployCommit string `json:"deploy_commit,omitempty"`
	// LastSuccess and LastAttempt are when the last successful and the
	// last convergence began.
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastError is why the last convergence failed; empty when it did not.
	LastError string `json:"last_error,omitempty"`
	// Failures counts the convergences that failed in a row.
	Failures int `json:"failures"`
	// NextAttempt is when the worker converges next without a signal.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Status returns the state of the deploy branch's convergence.
func (w *Worker) Status() DeployStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

func (w *Worker) setStatus(update func(*DeployStatus)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	update(&w.status)
}

// Run campaigns for leadership and then works until ctx ends. When this
// replica's session dies, another replica's campaign succeeds; when the
// session is lost under a live worker, it campaigns again.
func (w *Worker) Run(ctx context.Context) error {
	for {
		err := w.lead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.cfg.Log.Error("lost the lead; campaigning again", slog.String("worker", w.cfg.ID), slog.String("error", err.Error()))
		sleep(ctx, time.Second)
	}
}

// lead campaigns, then converges and runs jobs until ctx ends or the
// session does.
func (w *Worker) lead(ctx context.Context) error {
	return w.cfg.Sessions.Lead(ctx, sessionTTL, "worker", w.cfg.ID, func(lead context.Context, sess *store.Session) error {
		w.cfg.Log.Info("leading the job queue", slog.String("worker", w.cfg.ID))
		w.setStatus(func(s *DeployStatus) { s.Leading = true })
		defer w.setStatus(func(s *DeployStatus) { *s = DeployStatus{} })
		var wg sync.WaitGroup
		wg.Go(func() { w.converge(lead, sess) })
		w.runJobs(lead, sess)
		wg.Wait()
		return nil
	})
}

// converge keeps the deploy branch at the compiled source head until ctx
// ends.
func (w *Worker) converge(ctx context.Context, sess *store.Session) {
	covered, _, err := w.cfg.Queue.Signalled(ctx, SignalDeploy)
	if err != nil {
		covered = -1
	}
	due := time.Now() // converge at once: pushes may have been missed
	var began time.Time
	failures := 0
	for ctx.Err() == nil {
		rev, at, err := w.cfg.Queue.Signalled(ctx, SignalDeploy)
		if err != nil {
			if ctx.Err() == nil {
				w.cfg.Log.Warn("read the deploy signal", slog.String("error", err.Error()))
			}
			sleep(ctx, w.cfg.Poll)
			continue
		}
		// A push converges at once, unless deploys fail: then only the
		// backoff decides, so that pushes during an outage do not hammer
		// the remotes or stretch the wait after it.
		now := time.Now()
		signalled := rev != covered && failures == 0
		if (!signalled && now.Before(due)) || now.Before(began.Add(w.cfg.DeployInterval)) {
			sleep(ctx, w.cfg.Poll)
			continue
		}
		var since time.Time
		if rev != covered && !at.IsZero() {
			since = at
		}
		covered, began = rev, now
		res, err := w.deployOnce(ctx, sess)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			due = time.Now().Add(w.backoff(failures))
			w.cfg.Log.Error("deploy failed; it will be retried", slog.Int("failures", failures), slog.Time("next_attempt", due), slog.String("error", err.Error()))
			w.setStatus(func(s *DeployStatus) {
				s.LastAttempt, s.LastError, s.Failures, s.NextAttempt = began, err.Error(), failures, due
			})
			continue
		}
		failures = 0
		due = time.Now().Add(w.cfg.ResyncInterval)
		w.setStatus(func(s *DeployStatus) {
			*s = DeployStatus{Leading: true, SourceCommit: res.SourceCommit, DeployCommit: res.DeployCommit, LastSuccess: began, LastAttempt: began, NextAttempt: due}
		})
		took := time.Since(began)
		if res.Committed {
			w.cfg.Log.Info("deployed", slog.String("source", res.SourceCommit), slog.String("deploy", res.DeployCommit), slog.Duration("took", took))
		} else {
			w.cfg.Log.Debug("the deploy branch is current", slog.String("source", res.SourceCommit), slog.String("deploy", res.DeployCommit), slog.Duration("took", took))
		}
		if w.cfg.Deployed != nil {
			var sinceDelivery time.Duration
			if !since.IsZero() {
				sinceDelivery = time.Since(since)
			}
			w.cfg.Deployed(res, sinceDelivery)
		}
	}
}

// deployOnce converges the deploy branch once, holding the deploy lock.
func (w *Worker) deployOnce(ctx context.Context, sess *store.Session) (*deployer.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, deployTimeout)
	defer cancel()
	unlock, err := sess.Lock(ctx, deployLock)
	if err != nil {
		return nil, err
	}
	defer unlock(context.WithoutCancel(ctx))
	res, err := w.cfg.Deployer.Deploy(ctx)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return res, nil
}

// backoff is the wait after the nth failure in a row.
func (w *Worker) backoff(n int) time.Duration {
	d := w.cfg.RetryMin
	for i := 1; i < n && d < w.cfg.ResyncInterval; i++ {
		d *= 2
	}
	return min(d, w.cfg.ResyncInterval)
}

// runJobs claims and runs queued jobs, up to JobConcurrency at once,
// until ctx ends; it returns when the jobs it started have.
func (w *Worker) runJobs(ctx context.Context, sess *store.Session) {
	slots := make(chan struct{}, w.cfg.JobConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		job, err := w.cfg.Queue.Claim(ctx, sess, w.cfg.ID)
		if err != nil {
			<-slots
			if !errors.Is(err, store.ErrEmpty) && ctx.Err() == nil {
				w.cfg.Log.Error("claim", slog.String("error", err.Error()))
			}
			sleep(ctx, w.cfg.Poll)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			w.runJob(ctx, job)
		})
	}
}

// runJob runs one claimed job, for at most JobTimeout: done, retried
// later, or failed for good.
func (w *Worker) runJob(ctx context.Context, job *store.Job) {
	jobCtx, cancel := context.WithTimeout(ctx, w.cfg.JobTimeout)
	err := w.handle(jobCtx, job)
	cancel()
	if ctx.Err() != nil {
		return // the session's end frees the claim: the next leader retries
	}
	if err != nil && errors.Is(jobCtx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("the job ran out of its %s: %w", w.cfg.JobTimeout, err)
	}
	attrs := []any{slog.String("job", job.ID), slog.String("kind", string(job.Kind)), slog.String("key", job.Key), slog.Int("attempt", job.Attempts)}
	var perm permanent
	switch {
	case err == nil:
		if err := w.cfg.Queue.Complete(ctx, job); err != nil {
			w.cfg.Log.Error("complete", append(attrs, slog.String("error", err.Error()))...)
		}
	case errors.As(err, &perm) || job.Attempts >= w.cfg.JobAttempts:
		w.cfg.Log.Error("job failed; it will not be retried", append(attrs, slog.String("error", err.Error()))...)
		w.fail(ctx, job, err.Error())
	default:
		next := time.Now().Add(w.backoff(job.Attempts))
		w.cfg.Log.Warn("job failed; it will be retried", append(attrs, slog.Time("next_attempt", next), slog.String("error", err.Error()))...)
		if err := w.cfg.Queue.Release(ctx, job, next, err.Error()); err != nil {
			w.cfg.Log.Error("release", append(attrs, slog.String("error", err.Error()))...)
		}
	}
}

// fail records a job as failed and tells the handler of its kind.
func (w *Worker) fail(ctx context.Context, job *store.Job, reason string) {
	if err := w.cfg.Queue.Fail(ctx, job, reason, failedTTL); err != nil {
		w.cfg.Log.Error("record a failed job", slog.String("job", job.ID), slog.String("error", err.Error()))
		return
	}
	w.mu.Lock()
	w.failedJobs[job.Kind]++
	w.mu.Unlock()
	h, ok := w.handlers[job.Kind]
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.JobTimeout)
	defer cancel()
	if err := h.Failed(ctx, job.Payload, reason); err != nil {
		w.cfg.Log.Error("report a failed job", slog.String("job", job.ID), slog.String("kind", string(job.Kind)), slog.String("error", err.Error()))
	}
}

// handle runs a job by the handler of its kind.
func (w *Worker) handle(ctx context.Context, job *store.Job) error {
	h, ok := w.handlers[job.Kind]
	if !ok {
		return permanent{fmt.Errorf("no handler for %s jobs", job.Kind)}
	}
	return h.Run(ctx, job.Payload)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

var (
	descLeading = prometheus.NewDesc("slipway_worker_leading", "1 when this replica's worker leads: deploys and runs jobs.", nil, nil)
	descFailing = prometheus.NewDesc("slipway_deploy_failures", "Convergences of the deploy branch that failed in a row; 0 when the last one succeeded.", nil, nil)
	descSuccess = prometheus.NewDesc("slipway_deploy_last_success_timestamp_seconds", "When the last successful convergence of the deploy branch began.", nil, nil)
	descNext    = prometheus.NewDesc("slipway_deploy_next_attempt_timestamp_seconds", "When the deploy branch is converged next without a push.", nil, nil)
	descInfo    = prometheus.NewDesc("slipway_deploy_info", "The source commit and deploy commit of the last successful convergence.", []string{"source_commit", "deploy_commit"}, nil)
	descFailed  = prometheus.NewDesc("slipway_jobs_failed_total", "Jobs recorded as failed after their last attempt, by kind.", []string{"kind"}, nil)
)

// Describe implements prometheus.Collector.
func (w *Worker) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeading, descFailing, descSuccess, descNext, descInfo, descFailed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the convergence status and
// the jobs failed.
func (w *Worker) Collect(ch chan<- prometheus.Metric) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	leading := 0.0
	if s.Leading {
		leading = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeading, prometheus.GaugeValue, leading)
	for kind, n := range w.failedJobs {
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(n), string(kind))
	}
	if !s.Leading {
		return
	}
	ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, float64(s.Failures))
	ch <- prometheus.MustNewConstMetric(descNext, prometheus.GaugeValue, unixSeconds(s.NextAttempt))
	if s.SourceCommit != "" {
		ch <- prometheus.MustNewConstMetric(descSuccess, prometheus.GaugeValue, unixSeconds(s.LastSuccess))
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, s.SourceCommit, s.DeployCommit)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
