package build

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/slipway-gitops/slipway/store"
)

// sessionTTL is how long the builds' lead outlives a replica that stopped
// renewing it.
const sessionTTL = 10 * time.Second

// Run campaigns to lead the builds, on one replica at a time, and then
// follows them until ctx ends: it makes their Jobs, reads their steps
// from the pods, and finishes them.
func (s *Service) Run(ctx context.Context) error {
	for {
		err := s.lead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.Log.Error("lost the lead of the builds; campaigning again", slog.String("replica", s.cfg.ID), slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// lead campaigns, then follows the builds until ctx or the session ends.
func (s *Service) lead(ctx context.Context) error {
	return s.cfg.Sessions.Lead(ctx, sessionTTL, "builds", s.cfg.ID, func(lead context.Context, _ *store.Session) error {
		s.cfg.Log.Info("leading the builds", slog.String("replica", s.cfg.ID))
		return s.follow(lead)
	})
}

// follow watches the builds' Jobs and pods and reconciles each build
// whose Job or pod changed, that Start or Cancel named, and every build in
// progress every Resync; and it follows the image policies every
// PolicyInterval.
func (s *Service) follow(ctx context.Context) error {
	ns := s.cfg.Config.Namespace
	factory := informers.NewSharedInformerFactoryWithOptions(s.cfg.Kube, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelBuild }))
	jobs, pods := factory.Batch().V1().Jobs(), factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if m, err := meta.Accessor(obj); err == nil && m.GetLabels()[LabelBuild] != "" {
			queue.Add(m.GetLabels()[LabelBuild])
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}
	for _, inf := range []cache.SharedIndexInformer{jobs.Informer(), pods.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), jobs.Informer().HasSynced, pods.Informer().HasSynced) {
		return fmt.Errorf("builds: watch Jobs and pods in namespace %s: %w", ns, context.Cause(ctx))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			id, shutdown := queue.Get()
			if shutdown {
				return
			}
			if err := s.reconcile(ctx, id, jobs.Lister(), pods.Lister()); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("build step failed; retrying", slog.String("build", id), slog.String("error", err.Error()))
				queue.AddRateLimited(id)
			} else {
				queue.Forget(id)
			}
			queue.Done(id)
		}
	}()
	defer func() { queue.ShutDown(); <-done }()
	s.resync(ctx, queue)
	tick := time.NewTicker(s.cfg.Config.Resync)
	defer tick.Stop()
	policies := time.NewTicker(s.cfg.Config.PolicyInterval)
	defer policies.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			s.resync(ctx, queue)
			if err := s.prune(ctx, jobLeft(jobs.Lister(), ns)); err != nil {
				s.cfg.Log.Warn("prune the builds", slog.String("error", err.Error()))
			}
		case <-policies.C:
			if _, err := s.ScanImages(ctx); err != nil {
				s.cfg.Log.Warn("follow the image policies", slog.String("error", err.Error()))
			}
		case id := <-s.nudge:
			queue.Add(id)
		}
	}
}

// resync queues every build that has not ended, and the cancelled ones
// whose Jobs may remain.
func (s *Service) resync(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string]) {
	all, err := s.List(ctx)
	if err != nil {
		s.cfg.Log.Warn("list builds", slog.String("error", err.Error()))
		return
	}
	for _, r := range all {
		if !r.Status.Done() || r.Status == Cancelled && r.Job != "" {
			queue.Add(r.ID)
		}
	}
}

// reconcile moves one build on: it makes its Job when there is none,
// follows its step, and finishes it.
func (s *Service) reconcile(ctx context.Context, id string, jobs batchlisters.JobLister, pods corelisters.PodLister) error {
	r, _, err := s.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ns := s.cfg.Config.Namespace
	job, err := jobs.Jobs(ns).Get(JobName(id))
	missing := apierrors.IsNotFound(err)
	if err != nil && !missing {
		return err
	}
	switch {
	case r.Status == Cancelled:
		if missing {
			// The Job is gone: forget it, or every resync queues the
			// build again until it is pruned. A Job the cache has not
			// seen yet is still deleted: its event queues the build.
			_, err := s.update(ctx, id, func(r *Record) bool {
				changed := r.Job != ""
				r.Job = ""
				return changed
			})
			return err
		}
		err := s.cfg.Kube.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Job %s/%s: %w", ns, job.Name, err)
		}
		s.cfg.Log.Info("build cancelled", slog.String("build", id), slog.String("reason", r.Error))
		return nil
	case r.Status.Done():
		return nil
	case missing:
		return s.createJob(ctx, r)
	}
	list, err := pods.Pods(ns).List(labels.SelectorFromSet(labels.Set{LabelBuild: id}))
	if err != nil {
		return err
	}
	podValues := make([]corev1.Pod, 0, len(list))
	for _, p := range list {
		podValues = append(podValues, *p)
	}
	o := observe(job, podValues)
	switch {
	case o.status == Failed:
		_, err := s.update(ctx, id, func(r *Record) bool {
			if r.Status.Done() {
				return false
			}
			r.finish(Failed, time.Now().UTC())
			r.Error, r.LogTail = o.err, o.logTail
			return true
		})
		s.cfg.Log.Info("build failed", slog.String("build", id), slog.String("error", o.err))
		return err
	case o.pushed:
		return s.complete(ctx, r, o.reported)
	}
	_, err = s.update(ctx, id, func(r *Record) bool {
		if r.Status.Done() || progress[o.status] <= r.Progress {
			return false
		}
		r.Status, r.Progress = o.status, progress[o.status]
		return true
	})
	return err
}

// createJob makes a pending build's Job. A Job that vanished from a build
// already under way is not made again: the build failed.
func (s *Service) createJob(ctx context.Context, r *Record) error {
	ns := s.cfg.Config.Namespace
	if r.Status != Pending {
		// The cache may lag: ask the cluster before giving up.
		if _, err := s.cfg.Kube.BatchV1().Jobs(ns).Get(ctx, JobName(r.ID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return err
		}
		_, err := s.update(ctx, r.ID, func(r *Record) bool {
			if r.Status.Done() {
				return false
			}
			r.finish(Failed, time.Now().UTC())
			r.Error = fmt.Sprintf("the build's Job %s/%s was deleted", ns, JobName(r.ID))
			return true
		})
		return err
	}
	_, err := s.cfg.Kube.BatchV1().Jobs(ns).Create(ctx, newJob(r, &s.cfg.Config), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Job %s/%s: %w", ns, JobName(r.ID), err)
	}
	_, err = s.update(ctx, r.ID, func(r *Record) bool {
		if r.Status.Done() || r.Job != "" {
			return false
		}
		now := time.Now().UTC()
		r.Job, r.StartedAt = JobName(r.ID), &now
		return true
	})
	return err
}
