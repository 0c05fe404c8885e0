package source

import (
	"fmt"

	"github.com/slipway-gitops/slipway/workflow"
)

// MaxSize is the most bytes the files of a repository (Files) may hold
// together. A file of workflow.MaxFileSize bytes may take several times
// its size once decoded, and a push of a few compressed kilobytes can
// hold many such files: the service reading them must stay within its
// memory, whatever a repository holds.
const MaxSize = 64 << 20

// Budget bounds the bytes a reader of a repository takes into Files: each
// file to workflow.MaxFileSize and all of them to MaxSize. A file past
// either bound is a problem at its path, not read; the other files are
// still read, so that every problem is told at once. The zero Budget is
// ready to use.
type Budget struct {
	used     int64
	problems workflow.Errors
}

// Take reports whether the file at p, of size bytes, may be read, and
// counts it; when it may not, the file is recorded as a problem.
func (b *Budget) Take(p string, size int64) bool {
	switch {
	case size > workflow.MaxFileSize:
		b.problems = append(b.problems, &workflow.Error{File: p,
			Message: fmt.Sprintf("file is %d bytes; the limit is %d", size, workflow.MaxFileSize)})
		return false
	case b.used+size > MaxSize:
		b.problems = append(b.problems, &workflow.Error{File: p,
			Message: fmt.Sprintf("the repository's files are over %d bytes together with this one; the limit is %d", b.used+size, MaxSize)})
		return false
	}
	b.used += size
	return true
}

// Problems returns the files refused so far.
func (b *Budget) Problems() workflow.Errors { return b.problems }
