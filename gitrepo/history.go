package gitrepo

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// SourceCommitTrailer names, in every deploy commit, the source commit it
// was compiled from.
const SourceCommitTrailer = "Source-Commit"

// DeployMessage is the message of the deploy commit compiled from src: it
// names src in the subject and in a SourceCommitTrailer.
func DeployMessage(src *object.Commit) string {
	subject, _, _ := strings.Cut(strings.TrimSpace(src.Message), "\n")
	return fmt.Sprintf("Deploy %s: %s\n\n%s: %s\n", ShortID(src.Hash.String()), subject, SourceCommitTrailer, src.Hash)
}

// SourceCommit returns the source commit a deploy commit names, or the
// zero hash when it names none.
func SourceCommit(c *object.Commit) plumbing.Hash {
	for _, line := range strings.Split(c.Message, "\n") {
		if v, ok := strings.CutPrefix(line, SourceCommitTrailer+": "); ok {
			return plumbing.NewHash(strings.TrimSpace(v))
		}
	}
	return plumbing.ZeroHash
}

// DeployRecord is one commit of the deploy branch.
type DeployRecord struct {
	DeployCommit string    `json:"deploy_commit"`
	SourceCommit string    `json:"source_commit"`
	Time         time.Time `json:"time"`
	Subject      string    `json:"subject"`
}

// History lists the deploy branch's commits, newest first, at most limit.
func (r *Repo) History(branch string, limit int) ([]DeployRecord, error) {
	h, err := r.Branch(branch)
	if err != nil || h.IsZero() {
		return nil, err
	}
	var out []DeployRecord
	for !h.IsZero() && len(out) < limit {
		c, err := r.commit(h)
		if err != nil {
			return nil, err
		}
		subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		rec := DeployRecord{DeployCommit: c.Hash.String(), Time: c.Committer.When.UTC(), Subject: subject}
		if s := SourceCommit(c); !s.IsZero() {
			rec.SourceCommit = s.String()
		}
		out = append(out, rec)
		h = plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			h = c.ParentHashes[0]
		}
	}
	return out, nil
}
