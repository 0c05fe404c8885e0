package hooks

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/slipway-gitops/slipway/store"
)

// Limits of webhook handling.
const (
	// MaxWebhookBody is the largest delivery accepted, as GitHub caps
	// payloads at 25 MiB.
	MaxWebhookBody = 25 << 20
	// MinSecretLength is the shortest webhook secret accepted.
	MinSecretLength = 16
	// DeliveryTTL is how long a delivery id is remembered, so that a
	// replay within it does nothing new. GitHub redelivers for 3 days.
	DeliveryTTL = 72 * time.Hour
)

// Queue is what the receiver needs of the queue (*store.Queue): a push
// raises the deploy signal, a pull request queues a review job.
type Queue interface {
	EnqueueOnce(ctx context.Context, delivery string, ttl time.Duration, kind store.JobKind, key string, payload any) (*store.Job, bool, error)
	SignalOnce(ctx context.Context, delivery string, ttl time.Duration, signal string) (bool, error)
}

var _ Queue = (*store.Queue)(nil)

// ReviewJob is the payload of a review job: a pull request to render.
type ReviewJob struct {
	Repo       string `json:"repo"`
	Number     int    `json:"number"`
	BaseCommit string `json:"base_commit"`
	HeadCommit string `json:"head_commit"`
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// Secret verifies X-Hub-Signature-256.
	Secret string
	// Queue receives the work deliveries ask for.
	Queue Queue
	// SourceBranch is the branch whose pushes are deployed.
	SourceBranch string
	Log          *slog.Logger
	Metrics      *Metrics
	// Builds queues a build-push job for every push, to any repository
	// and branch, that some node may build from.
	Builds bool
}

// Receiver verifies GitHub deliveries and queues the work they ask for.
// It knows nothing of HTTP frameworks: Receive takes the headers and body.
type Receiver struct {
	secret       []byte
	queue        Queue
	sourceBranch string
	log          *slog.Logger
	metrics      *Metrics
	bodies       *bodyBudget
	builds       bool
}

// NewReceiver returns a Receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Secret == "" || cfg.Queue == nil || cfg.SourceBranch == "" || cfg.Log == nil || cfg.Metrics == nil {
		return nil, errors.New("receiver: a secret, a queue, a source branch, a log and metrics are required")
	}
	return &Receiver{secret: []byte(cfg.Secret), queue: cfg.Queue, sourceBranch: cfg.SourceBranch, log: cfg.Log, metrics: cfg.Metrics, bodies: newBodyBudget(), builds: cfg.Builds}, nil
}

// Delivery is one webhook request. Its strings must not change after
// Receive is called: a Receiver may keep them.
type Delivery struct {
	Event       string // X-GitHub-Event
	ID          string // X-GitHub-Delivery
	Signature   string // X-Hub-Signature-256
	ContentType string
	// Length is the body's announced length, -1 when unknown.
	Length int64
	// Body is read by Receive only once the headers pass and the budget
	// of bodies in flight has room for Length bytes; its reads are
	// expected to fail when the client stalls (a server read deadline).
	Body io.Reader
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
	began := time.Now()
	reply := r.receive(ctx, d)
	event := eventLabel(d.Event)
	r.metrics.DeliveryDuration.WithLabelValues(event).Observe(time.Since(began).Seconds())
	r.metrics.Deliveries.WithLabelValues(event, reply.Result).Inc()
	r.log.LogAttrs(ctx, levelOf(reply.Status), "webhook delivery",
		slog.String("delivery", d.ID), slog.String("event", d.Event), slog.Int("status", reply.Status),
		slog.String("result", reply.Result), slog.String("message", reply.Message), slog.String("job", reply.Job))
	return reply
}

func (r *Receiver) receive(ctx context.Context, d Delivery) Reply {
	switch {
	case d.Length > MaxWebhookBody:
		return tooLarge()
	case d.Signature == "":
		return Reply{Status: http.StatusUnauthorized, Result: "unsigned", Message: "missing X-Hub-Signature-256"}
	}
	want, ok := parseSignature(d.Signature)
	if !ok {
		return Reply{Status: http.StatusUnauthorized, Result: "bad_signature", Message: "X-Hub-Signature-256 must be sha256= and 64 hex digits"}
	}
	body, refused, ok := r.verifiedBody(d, want)
	if !ok {
		return refused
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
	e, err := parseEvent(body)
	if err != nil {
		return Reply{Status: http.StatusBadRequest, Result: "malformed", Message: "payload does not parse: " + err.Error()}
	}
	var reply Reply
	var queued bool
	switch d.Event {
	case "push":
		// err is the one the reply below reads: a queue that failed must
		// answer 503, never "handled before".
		var build Reply
		build, err = r.queueBuilds(ctx, d.ID, e)
		switch {
		case err != nil:
			return Reply{Status: http.StatusServiceUnavailable, Result: "error", Message: "the queue is unavailable; GitHub may redeliver"}
		case build.Status != 0 && e.Ref != "refs/heads/"+r.sourceBranch:
			return build
		case e.Ref != "refs/heads/"+r.sourceBranch:
			return Reply{Status: http.StatusAccepted, Result: "ignored", Message: fmt.Sprintf("push to %s, not to the source branch %s", e.Ref, r.sourceBranch)}
		case e.Deleted:
			return Reply{Status: http.StatusAccepted, Result: "ignored", Message: fmt.Sprintf("the source branch %s was deleted; the deploy branch stays as it is", r.sourceBranch)}
		case !isCommit(e.After):
			return Reply{Status: http.StatusBadRequest, Result: "malformed", Message: "after is not a commit SHA (40 or 64 hex digits, not all zero)"}
		}
		// The push is a hint that the source changed: the worker deploys
		// whatever the branch holds when it looks.
		queued, err = r.queue.SignalOnce(ctx, d.ID, DeliveryTTL, SignalDeploy)
		reply = Reply{Status: http.StatusAccepted, Result: "queued", Message: "deploy requested"}
	case "pull_request":
		switch e.Action {
		case "opened", "synchronize", "reopened":
		default:
			return Reply{Status: http.StatusAccepted, Result: "ignored", Message: fmt.Sprintf("pull_request action %q is not handled", e.Action)}
		}
		pr := e.PullRequest
		if !isCommit(pr.Head.SHA) || !isCommit(pr.Base.SHA) {
			return Reply{Status: http.StatusBadRequest, Result: "malformed", Message: "pull_request head.sha and base.sha must be commit SHAs (40 or 64 hex digits)"}
		}
		key := fmt.Sprintf("pr:%s:%d:%s", e.Repository.FullName, pr.Number, pr.Head.SHA)
		var j *store.Job
		j, queued, err = r.queue.EnqueueOnce(ctx, d.ID, DeliveryTTL, JobReview, key, ReviewJob{Repo: e.Repository.FullName, Number: pr.Number, BaseCommit: pr.Base.SHA, HeadCommit: pr.Head.SHA})
		if queued {
			reply = Reply{Status: http.StatusAccepted, Result: "queued", Message: string(JobReview) + " queued", Job: j.ID}
		}
	}
	switch {
	case err != nil:
		return Reply{Status: http.StatusServiceUnavailable, Result: "error", Message: "the queue is unavailable; GitHub may redeliver"}
	case !queued:
		return Reply{Status: http.StatusOK, Result: "duplicate", Message: "delivery " + d.ID + " was handled before"}
	}
	return reply
}

// verifiedBody reads the body of a delivery whose signature is want, and
// returns it once its MAC matches; otherwise the reply to send. The body
// is read within the budgets of bodies in flight.
func (r *Receiver) verifiedBody(d Delivery, want []byte) ([]byte, Reply, bool) {
	mac := newMAC(r.secret)
	held, err := r.bodies.read(d.Body, d.Length, mac)
	switch {
	case errors.Is(err, errBusy):
		return nil, Reply{Status: http.StatusServiceUnavailable, Result: "busy", Message: err.Error()}, false
	case errors.Is(err, errTooLarge):
		return nil, tooLarge(), false
	case timedOut(err):
		return nil, Reply{Status: http.StatusRequestTimeout, Result: "timeout", Message: "the body did not arrive within the read timeout"}, false
	case err != nil:
		return nil, Reply{Status: http.StatusBadRequest, Result: "incomplete", Message: "the body was cut short"}, false
	}
	defer held.close()
	if !hmac.Equal(mac.Sum(nil), want) {
		return nil, Reply{Status: http.StatusUnauthorized, Result: "bad_signature", Message: "X-Hub-Signature-256 does not match the body"}, false
	}
	body, err := held.bytes()
	if err != nil {
		r.log.Error("read a delivery body", slog.String("delivery", d.ID), slog.String("error", err.Error()))
		return nil, Reply{Status: http.StatusInternalServerError, Result: "error", Message: "the body could not be read back"}, false
	}
	return body, Reply{}, true
}

func tooLarge() Reply {
	return Reply{Status: http.StatusRequestEntityTooLarge, Result: "too_large", Message: errTooLarge.Error()}
}

// isCommit reports whether s is a SHA-1 or SHA-256 commit id in
// lowercase hex, and not the zero id GitHub sends for a deleted branch.
func isCommit(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	zero := true
	for _, c := range []byte(s) {
		switch {
		case c == '0':
		case '1' <= c && c <= '9', 'a' <= c && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !zero
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
		// CloneURL, HTMLURL and SSHURL name the repository a push builds.
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
		SSHURL   string `json:"ssh_url"`
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
