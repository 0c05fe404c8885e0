package hooks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-github/v60/github"

	"github.com/slipway-gitops/slipway/store"
)

// Limits of webhook handling.
const (
	// MaxWebhookBody is the largest delivery accepted, as GitHub caps
	// payloads at 25 MiB.
	MaxWebhookBody = 25 << 20
	// DeliveryTTL is how long a delivery id is remembered, so that a
	// replay within it does nothing new. GitHub redelivers for 3 days.
	DeliveryTTL = 72 * time.Hour
)

// Job kinds the receiver queues.
const (
	JobDeploy = "deploy"
	JobReview = "review"
)

// Queue is what the receiver needs of the store.
type Queue interface {
	EnqueueOnce(ctx context.Context, delivery string, ttl time.Duration, kind, key string, payload any) (*store.Job, bool, error)
}

// DeployJob is the payload of a deploy job: a push to the source branch.
type DeployJob struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
}

// ReviewJob is the payload of a review job: a pull request to render.
type ReviewJob struct {
	Repo       string `json:"repo"`
	Number     int    `json:"number"`
	BaseCommit string `json:"base_commit"`
	HeadCommit string `json:"head_commit"`
}

// Receiver verifies GitHub deliveries and queues the work they ask for.
// It knows nothing of HTTP frameworks: Receive takes the headers and body.
type Receiver struct {
	secret       []byte
	queue        Queue
	sourceBranch string
	log          *slog.Logger
	metrics      *Metrics
}

// NewReceiver returns a Receiver.
func NewReceiver(secret string, queue Queue, sourceBranch string, log *slog.Logger, m *Metrics) *Receiver {
	return &Receiver{secret: []byte(secret), queue: queue, sourceBranch: sourceBranch, log: log, metrics: m}
}

// Delivery is one webhook request.
type Delivery struct {
	Event       string // X-GitHub-Event
	ID          string // X-GitHub-Delivery
	Signature   string // X-Hub-Signature-256
	ContentType string
	Body        []byte
}

// Reply is the answer to a delivery.
type Reply struct {
	Status  int    `json:"-"`
	Result  string `json:"result"`
	Message string `json:"message"`
	Job     string `json:"job,omitempty"`
}

// Receive handles one delivery. The signature is checked, in constant
// time, before the body is parsed; nothing is queued for a delivery that
// is not verified, not understood, or seen before.
func (r *Receiver) Receive(ctx context.Context, d Delivery) Reply {
	reply := r.receive(ctx, d)
	r.metrics.Deliveries.WithLabelValues(eventLabel(d.Event), reply.Result).Inc()
	r.log.LogAttrs(ctx, levelOf(reply.Status), "webhook delivery",
		slog.String("delivery", d.ID), slog.String("event", d.Event), slog.Int("status", reply.Status),
		slog.String("result", reply.Result), slog.String("message", reply.Message), slog.String("job", reply.Job))
	return reply
}

func (r *Receiver) receive(ctx context.Context, d Delivery) Reply {
	switch {
	case len(d.Body) > MaxWebhookBody:
		return Reply{Status: http.StatusRequestEntityTooLarge, Result: "too_large", Message: fmt.Sprintf("body is over %d bytes", MaxWebhookBody)}
	case d.Signature == "":
		return Reply{Status: http.StatusUnauthorized, Result: "unsigned", Message: "missing X-Hub-Signature-256"}
	}
	if err := github.ValidateSignature(d.Signature, d.Body, r.secret); err != nil {
		return Reply{Status: http.StatusUnauthorized, Result: "bad_signature", Message: "X-Hub-Signature-256 does not match the body"}
	}
	if d.ID == "" {
		return Reply{Status: http.StatusBadRequest, Result: "malformed", Message: "missing X-GitHub-Delivery"}
	}
	if ct, _, _ := strings.Cut(d.ContentType, ";"); ct != "" && ct != "application/json" {
		return Reply{Status: http.StatusUnsupportedMediaType, Result: "malformed", Message: "content type must be application/json"}
	}
	if d.Event == "ping" {
		return Reply{Status: http.StatusOK, Result: "pong", Message: "pong"}
	}
	if d.Event != "push" && d.Event != "pull_request" {
		return Reply{Status: http.StatusAccepted, Result: "ignored", Message: fmt.Sprintf("event %q is not handled", d.Event)}
	}
	e, err := parseEvent(d.Body)
	if err != nil {
		return Reply{Status: http.StatusBadRequest, Result: "malformed", Message: "payload does not parse: " + err.Error()}
	}
	var kind, key string
	var job any
	switch d.Event {
	case "push":
		if e.Ref != "refs/heads/"+r.sourceBranch || e.Deleted {
			return Reply{Status: http.StatusAccepted, Result: "ignored", Message: fmt.Sprintf("push to %s, not to the source branch %s", e.Ref, r.sourceBranch)}
		}
		kind, key, job = JobDeploy, "push:"+e.After, DeployJob{Ref: e.Ref, Commit: e.After}
	case "pull_request":
		switch e.Action {
		case "opened", "synchronize", "reopened":
		default:
			return Reply{Status: http.StatusAccepted, Result: "ignored", Message: fmt.Sprintf("pull_request action %q is not handled", e.Action)}
		}
		pr := e.PullRequest
		kind = JobReview
		key = fmt.Sprintf("pr:%s:%d:%s", e.Repository.FullName, pr.Number, pr.Head.SHA)
		job = ReviewJob{Repo: e.Repository.FullName, Number: pr.Number, BaseCommit: pr.Base.SHA, HeadCommit: pr.Head.SHA}
	}
	j, queued, err := r.queue.EnqueueOnce(ctx, d.ID, DeliveryTTL, kind, key, job)
	switch {
	case err != nil:
		return Reply{Status: http.StatusServiceUnavailable, Result: "error", Message: "the queue is unavailable; GitHub may redeliver"}
	case !queued:
		return Reply{Status: http.StatusOK, Result: "duplicate", Message: "delivery " + d.ID + " was handled before"}
	}
	return Reply{Status: http.StatusAccepted, Result: "queued", Message: kind + " queued", Job: j.ID}
}

// event holds the fields of push and pull_request payloads the receiver
// reads. Decoding only these, not go-github's whole event types, in one
// validating pass (the JSON v2 decoder, encoding/json/v2 to be) takes a
// fifth of the time (BenchmarkParse).
type event struct {
	// push
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
	// pull_request
	Action      string `json:"action"`
	PullRequest struct {
		Number int `json:"number"`
		Head   struct {
			SHA string `json:"sha"`
		} `json:"head"`
		Base struct {
			SHA string `json:"sha"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// parseEvent decodes the fields of an event payload the receiver reads.
// The body is signed by GitHub, so the check for repeated member names, a
// third of the decoding time, buys nothing.
func parseEvent(body []byte) (*event, error) {
	var e event
	if err := json.Unmarshal(body, &e, jsontext.AllowDuplicateNames(true)); err != nil {
		return nil, err
	}
	return &e, nil
}

// eventLabel bounds the metric's label values to the events handled. It
// returns its own constants, never e: the metric keeps its label values,
// and e may point into a request buffer that the next request reuses.
func eventLabel(e string) string {
	switch e {
	case "push":
		return "push"
	case "pull_request":
		return "pull_request"
	case "ping":
		return "ping"
	}
	return "other"
}

func levelOf(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	if status >= 400 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
