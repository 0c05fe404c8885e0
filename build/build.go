// Package build builds a workflow node's image where the cluster is: a
// Kubernetes Job clones the commit, builds it and pushes the image; the
// build's record in etcd follows the Job's pod from step to step; and on
// success the image, by digest, is written back to that one node of the
// workflow file through git, so that a build is a reviewed, revertable
// commit like any other.
package build

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Status is a build's step.
type Status string

// A build goes pending → cloning → building → pushing → completed, or ends
// failed or cancelled at any step.
const (
	Pending   Status = "pending"
	Cloning   Status = "cloning"
	Building  Status = "building"
	Pushing   Status = "pushing"
	Completed Status = "completed"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Done reports whether the status is final.
func (s Status) Done() bool { return s == Completed || s == Failed || s == Cancelled }

// progress is where each step starts, out of 100.
var progress = map[Status]int{Pending: 0, Cloning: 10, Building: 30, Pushing: 80, Completed: 100}

// Record is one build: what it builds, where it pushes, how far it got and
// what it made. Its field names are the seed's Build's.
type Record struct {
	// ID names the build; it is derived from the workflow, node and
	// commit, so one commit of a node is built once.
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	Node     string `json:"node"`
	// RepoURL, Branch and Commit are what is built.
	RepoURL string `json:"repoUrl"`
	Branch  string `json:"branch"`
	Commit  string `json:"commit"`
	// Context, Dockerfile, Args and Target are the node's build settings.
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
	Target     string            `json:"target,omitempty"`
	// Registry, ImageName and ImageTag are where the image is pushed.
	Registry  string `json:"registry"`
	ImageName string `json:"imageName"`
	ImageTag  string `json:"imageTag"`
	// SourceCommit is the workflows branch's head when the build started:
	// the write-back skips a node changed since.
	SourceCommit string `json:"sourceCommit"`

	Status Status `json:"status"`
	// Progress runs from 0 to 100.
	Progress int `json:"progress"`
	// Job is the Kubernetes Job running the build.
	Job string `json:"job,omitempty"`
	// FinalImageRef is registry/imageName:imageTag@digest, the digest as
	// the registry reports it.
	FinalImageRef string `json:"finalImageRef,omitempty"`
	// Duration is the build's time in milliseconds, once it ended.
	Duration int64 `json:"duration,omitempty"`
	// LogTail is the end of the failed step's log.
	LogTail string `json:"logTail,omitempty"`
	// Error says why the build failed or was cancelled.
	Error string `json:"error,omitempty"`
	// WriteBack is the commit that set the node's image; WriteBackSkipped
	// says why there is none.
	WriteBack        string `json:"writeBack,omitempty"`
	WriteBackSkipped string `json:"writeBackSkipped,omitempty"`

	CreatedAt   time.Time  `json:"createdAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
}

// ID returns the id of the build of a workflow's node at a commit.
func ID(workflow, node, commit string) string {
	sum := sha256.Sum256([]byte(workflow + "\x00" + node + "\x00" + commit))
	return hex.EncodeToString(sum[:10])
}

// destination returns the reference the build pushes to.
func (r *Record) destination() string { return r.Registry + "/" + r.ImageName + ":" + r.ImageTag }

// finish ends the record with a final status at now.
func (r *Record) finish(s Status, now time.Time) {
	r.Status = s
	if p, ok := progress[s]; ok {
		r.Progress = p
	}
	r.CompletedAt = &now
	start := r.CreatedAt
	if r.StartedAt != nil {
		start = *r.StartedAt
	}
	r.Duration = now.Sub(start).Milliseconds()
}
