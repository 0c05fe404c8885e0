package watch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-gitops/slipway/workflow"
)

// Managed are the resource types Slipway renders, watched with one
// label-selected informer each.
var Managed = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"},
}

// Flux resource types: the deploy tree's Kustomizations carry the managed-by
// label; GitRepositories are the bootstrap's and are watched unselected.
var (
	Kustomizations  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	GitRepositories = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	endpointSlices  = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
	events          = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

// managedSelector selects what Slipway rendered.
var managedSelector = workflow.LabelManagedBy + "=" + workflow.ManagedBy

// MaxEvents is how many recent warning events are kept per object.
const MaxEvents = 5

// Cluster watches one cluster. Its informers are shared: one per resource
// type, whatever the number of objects.
type Cluster struct {
	name    string
	log     *slog.Logger
	client  dynamic.Interface
	disco   discovery.DiscoveryInterface
	changed chan struct{}

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	synced    bool
	err       error
}

// NewCluster returns a watcher of the cluster cfg reaches.
func NewCluster(name string, cfg *rest.Config, log *slog.Logger) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 50, 100
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", name, err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", name, err)
	}
	return &Cluster{name: name, log: log.With(slog.String("cluster", name)), client: dc, disco: disco, changed: make(chan struct{}, 1)}, nil
}

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Changed receives a value after any watched object changes; changes
// that arrive together are coalesced.
func (c *Cluster) Changed() <-chan struct{} { return c.changed }

func (c *Cluster) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Run starts the informers of the resource types the cluster serves,
// retrying discovery until it answers, and keeps them running until ctx
// ends. Informers re-list and re-watch by themselves after the API server
// comes back.
func (c *Cluster) Run(ctx context.Context) {
	var served map[schema.GroupVersionResource]bool
	for ctx.Err() == nil {
		var err error
		if served, err = c.served(); err == nil {
			break
		}
		c.setErr(err)
		c.log.Warn("discovery failed; retrying", slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	selected := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = managedSelector })
	all := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll, nil)
	warnings := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.FieldSelector = "type=" + corev1.EventTypeWarning })
	epSlices := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = "kubernetes.io/service-name" })
	infs := map[schema.GroupVersionResource]cache.SharedIndexInformer{}
	add := func(f dynamicinformer.DynamicSharedInformerFactory, gvr schema.GroupVersionResource) {
		if !served[gvr] {
			return
		}
		inf := f.ForResource(gvr).Informer()
		_ = inf.SetTransform(strip)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.notify() },
			UpdateFunc: func(any, any) { c.notify() },
			DeleteFunc: func(any) { c.notify() },
		})
		infs[gvr] = inf
	}
	for _, gvr := range Managed {
		add(selected, gvr)
	}
	add(selected, Kustomizations)
	add(all, GitRepositories)
	add(warnings, events)
	add(epSlices, endpointSlices)
	c.mu.Lock()
	c.informers = infs
	c.mu.Unlock()
	for _, f := range []dynamicinformer.DynamicSharedInformerFactory{selected, all, warnings, epSlices} {
		f.Start(ctx.Done())
	}
	syncs := make([]cache.InformerSynced, 0, len(infs))
	for _, inf := range infs {
		syncs = append(syncs, inf.HasSynced)
	}
	if cache.WaitForCacheSync(ctx.Done(), syncs...) {
		c.mu.Lock()
		c.synced, c.err = true, nil
		c.mu.Unlock()
		c.notify()
	}
	<-ctx.Done()
	for _, f := range []dynamicinformer.DynamicSharedInformerFactory{selected, all, warnings, epSlices} {
		f.Shutdown()
	}
}

func (c *Cluster) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.notify()
}

// served returns which of the watched resource types the cluster serves.
func (c *Cluster) served() (map[schema.GroupVersionResource]bool, error) {
	want := append(slices.Clone(Managed), Kustomizations, GitRepositories, endpointSlices, events)
	out := map[schema.GroupVersionResource]bool{}
	byGV := map[schema.GroupVersion][]schema.GroupVersionResource{}
	for _, gvr := range want {
		byGV[gvr.GroupVersion()] = append(byGV[gvr.GroupVersion()], gvr)
	}
	for gv, gvrs := range byGV {
		list, err := c.disco.ServerResourcesForGroupVersion(gv.String())
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue // e.g. Flux is not installed
			}
			return nil, fmt.Errorf("discover %s: %w", gv, err)
		}
		for _, r := range list.APIResources {
			for _, gvr := range gvrs {
				if r.Name == gvr.Resource {
					out[gvr] = true
				}
			}
		}
	}
	return out, nil
}

// strip drops what status never reads before an object is cached: managed
// fields, and the values of Secrets and ConfigMaps, which thus never sit
// in this process's memory.
func strip(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	u.SetManagedFields(nil)
	ann := u.GetAnnotations()
	if _, ok := ann[corev1.LastAppliedConfigAnnotation]; ok {
		delete(ann, corev1.LastAppliedConfigAnnotation)
		u.SetAnnotations(ann)
	}
	switch u.GetKind() {
	case "Secret":
		delete(u.Object, "data")
		delete(u.Object, "stringData")
	case "ConfigMap":
		delete(u.Object, "data")
		delete(u.Object, "binaryData")
	}
	return u, nil
}

// Snapshot is what one cluster shows at one moment.
type Snapshot struct {
	Cluster string `json:"cluster"`
	// Synced is false until every informer has listed once.
	Synced bool `json:"synced"`
	// Error is the last reason the cluster could not be read.
	Error string `json:"error,omitempty"`
	// Objects are the managed objects, with health, conditions and
	// warning events.
	Objects []Object `json:"objects"`
	// Kustomizations are the managed Flux Kustomizations by workflow.
	Kustomizations map[string]*unstructured.Unstructured `json:"-"`
	// GitRepositories are Flux's sources by namespace/name.
	GitRepositories map[string]*unstructured.Unstructured `json:"-"`
}

// Snapshot reads the informers' caches.
func (c *Cluster) Snapshot() Snapshot {
	c.mu.Lock()
	infs, synced, err := c.informers, c.synced, c.err
	c.mu.Unlock()
	s := Snapshot{Cluster: c.name, Synced: synced, Kustomizations: map[string]*unstructured.Unstructured{}, GitRepositories: map[string]*unstructured.Unstructured{}}
	if err != nil {
		s.Error = err.Error()
	}
	list := func(gvr schema.GroupVersionResource) []*unstructured.Unstructured {
		inf, ok := infs[gvr]
		if !ok {
			return nil
		}
		var out []*unstructured.Unstructured
		for _, o := range inf.GetStore().List() {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, u)
			}
		}
		return out
	}
	ready := readyEndpoints(list(endpointSlices))
	warn := warningsByObject(list(events))
	for _, gvr := range Managed {
		for _, u := range list(gvr) {
			var res Result
			if gvr.Resource == "services" {
				res = ServiceHealth(u, ready[u.GetNamespace()+"/"+u.GetName()])
			} else {
				res = Compute(u)
			}
			s.Objects = append(s.Objects, objectOf(u, res, warn))
		}
	}
	for _, u := range list(Kustomizations) {
		if wf := u.GetLabels()[workflow.LabelPartOf]; wf != "" {
			s.Kustomizations[wf] = u
		}
	}
	for _, u := range list(GitRepositories) {
		s.GitRepositories[u.GetNamespace()+"/"+u.GetName()] = u
	}
	return s
}

func objectOf(u *unstructured.Unstructured, res Result, warn map[string][]Event) Object {
	gvk := u.GroupVersionKind()
	o := Object{
		Kind: gvk.Kind, Group: gvk.Group, Namespace: u.GetNamespace(), Name: u.GetName(),
		Workflow: u.GetLabels()[workflow.LabelPartOf], Node: u.GetAnnotations()[workflow.AnnotationNodeID],
		Result: res, Conditions: Conditions(u),
	}
	o.Events = warn[gvk.Kind+"/"+o.Namespace+"/"+o.Name]
	// A workload's pods are not watched: their warnings are the workload's.
	for _, e := range warn["Pod/"+o.Namespace+"/"+o.Name+"-"] {
		o.Events = append(o.Events, e)
	}
	slices.SortFunc(o.Events, func(a, b Event) int { return b.Time.Compare(a.Time) })
	if len(o.Events) > MaxEvents {
		o.Events = o.Events[:MaxEvents]
	}
	return o
}

// readyEndpoints counts ready endpoints per Service (namespace/name).
func readyEndpoints(list []*unstructured.Unstructured) map[string]int {
	out := map[string]int{}
	for _, s := range list {
		svc := s.GetNamespace() + "/" + s.GetLabels()["kubernetes.io/service-name"]
		eps, _, _ := unstructured.NestedSlice(s.Object, "endpoints")
		for _, e := range eps {
			m, _ := e.(map[string]any)
			ready, found, _ := unstructured.NestedBool(m, "conditions", "ready")
			if ready || !found {
				out[svc]++
			}
		}
	}
	return out
}

// warningsByObject indexes warning events by kind/namespace/name of the
// object they are about. A pod's events are also indexed under its
// owner's name prefix ("Pod/ns/web-"), for Deployments and StatefulSets,
// whose pod names begin with the workload's name.
func warningsByObject(list []*unstructured.Unstructured) map[string][]Event {
	out := map[string][]Event{}
	for _, u := range list {
		var ev corev1.Event
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ev); err != nil {
			continue
		}
		t := ev.LastTimestamp.Time
		if t.IsZero() {
			t = ev.EventTime.Time
		}
		if t.IsZero() {
			t = ev.CreationTimestamp.Time
		}
		e := Event{Time: t.UTC(), Reason: ev.Reason, Message: ev.Message, Count: ev.Count}
		io := ev.InvolvedObject
		out[io.Kind+"/"+io.Namespace+"/"+io.Name] = append(out[io.Kind+"/"+io.Namespace+"/"+io.Name], e)
		if io.Kind == "Pod" {
			for prefix := range podOwnerPrefixes(io.Name) {
				out["Pod/"+io.Namespace+"/"+prefix] = append(out["Pod/"+io.Namespace+"/"+prefix], e)
			}
		}
	}
	return out
}

// podOwnerPrefixes yields the workload name prefixes a pod name may carry:
// "web-5d9c7b-x2x4z" gives "web-5d9c7b-" and "web-" (Deployment, via
// its ReplicaSet), "db-0" gives "db-" (StatefulSet).
func podOwnerPrefixes(pod string) func(func(string) bool) {
	return func(yield func(string) bool) {
		name := pod
		for range 2 {
			i := strings.LastIndexByte(name, '-')
			if i <= 0 {
				return
			}
			name = name[:i]
			if !yield(name + "-") {
				return
			}
		}
	}
}
