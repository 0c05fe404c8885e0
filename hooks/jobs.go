package hooks

import (
	"context"
	"encoding/json"

	"github.com/slipway-gitops/slipway/store"
)

// The kinds of job the service queues. Adding one is a constant here, a
// JobHandler, and its entry in jobHandlers.
const (
	// JobReview renders a pull request's change and reports it on GitHub;
	// its payload is a ReviewJob.
	JobReview store.JobKind = "review"
)

// JobHandler runs the jobs of one kind.
type JobHandler interface {
	// Run runs a job with its payload. An error is retried, unless it
	// marks itself permanent (errors.As a permanent) or the job ran out
	// of attempts.
	Run(ctx context.Context, payload json.RawMessage) error
	// Failed is told, with the reason, when a job was recorded as failed
	// for good.
	Failed(ctx context.Context, payload json.RawMessage, reason string) error
}

// jobHandlers is the table of job kinds and their handlers: a job of a
// kind not in it fails at once.
func jobHandlers(cfg WorkerConfig) map[store.JobKind]JobHandler {
	return map[store.JobKind]JobHandler{
		JobReview:    reviewJobs{cfg.Reviewer},
		JobBuildPush: buildJobs{cfg.Builds},
	}
}

// permanent marks a job's error as one no retry can mend.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }
