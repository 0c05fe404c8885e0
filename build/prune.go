package build

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	batchlisters "k8s.io/client-go/listers/batch/v1"
)

// newestFirst orders builds by when they were created, newest first.
func newestFirst(a, b *Record) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
}

// pruned returns the builds to delete so that each workflow's node keeps
// its newest keep builds: those beyond, that ended, apart from cancelled
// ones whose Job is left (jobLeft), which the running builds' loop still
// deletes. all is newest first.
func pruned(all []*Record, keep int, jobLeft func(id string) bool) []*Record {
	seen := map[[2]string]int{}
	var out []*Record
	for _, r := range all {
		node := [2]string{r.Workflow, r.Node}
		seen[node]++
		if seen[node] > keep && r.Status.Done() && (r.Status != Cancelled || r.Job == "" || !jobLeft(r.ID)) {
			out = append(out, r)
		}
	}
	return out
}

// prune deletes the builds beyond the newest Config.Keep of each node
// (see pruned); a record written since it was read is left for the next
// time. Zero Keep keeps every build.
func (s *Service) prune(ctx context.Context, jobLeft func(id string) bool) error {
	if s.cfg.Config.Keep == 0 {
		return nil
	}
	brs, err := s.cfg.Records.Builds(ctx)
	if err != nil {
		return err
	}
	all := make([]*Record, 0, len(brs))
	revs := make(map[string]int64, len(brs))
	for _, br := range brs {
		var r Record
		if err := json.Unmarshal(br.Value, &r); err != nil {
			return fmt.Errorf("build %s: %w", br.ID, err)
		}
		all = append(all, &r)
		revs[r.ID] = br.Revision
	}
	slices.SortFunc(all, newestFirst)
	var errs []error
	for _, r := range pruned(all, s.cfg.Config.Keep, jobLeft) {
		if _, err := s.cfg.Records.DeleteBuild(ctx, r.ID, revs[r.ID]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// jobLeft reports whether a build's Job is in the cache of ns's Jobs,
// or may be: only a Job the cache does not have is gone.
func jobLeft(jobs batchlisters.JobLister, ns string) func(id string) bool {
	return func(id string) bool {
		_, err := jobs.Jobs(ns).Get(JobName(id))
		return !apierrors.IsNotFound(err)
	}
}
