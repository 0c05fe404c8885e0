package watch

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-gitops/slipway/workflow"
)

// Managed are the resource types Slipway renders, watched with one
// label-selected informer each. Secrets are not among them: reading them
// takes the right to read their values, which status never needs.
var Managed = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
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

// Default intervals of a Cluster's checks (see WithProbeInterval and
// WithDiscoveryInterval).
const (
	DefaultProbeInterval     = time.Second
	DefaultDiscoveryInterval = 30 * time.Second
	// probeFailures is how many probes in a row must fail before the
	// cluster is called unreachable.
	probeFailures = 2
	// syncTimeout bounds how long a new set of informers may take to list
	// everything before it is given up and built again.
	syncTimeout = time.Minute
)

// Cluster watches one cluster. Its informers are shared: one per resource
// type, whatever the number of objects.
//
// A client-go reflector whose API server goes away backs off up to a
// minute between attempts, and says nothing of it. So a Cluster probes the
// API server's /readyz itself: once it fails twice in a row the cluster
// is unreachable (Snapshot.Error and Snapshot.Since say why and since
// when), and when it answers again the informers are built anew, so that
// the caches are current as soon as the server is, not a backoff later. Discovery is
// re-read now and then, and resource types served since (Flux's CRDs
// installed after the start) are watched from then on.
type Cluster struct {
	name          string
	log           *slog.Logger
	client        dynamic.Interface
	disco         discovery.DiscoveryInterface
	changed       chan struct{}
	probeEvery    time.Duration
	discoverEvery time.Duration
	// clusterKustomization names the Kustomization that applies the
	// cluster's directory; it carries no label and is watched by name.
	clusterKustomization string

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	// bootstrap watches the cluster Kustomization, when one is named.
	bootstrap cache.SharedIndexInformer
	synced    bool
	err       error
	since     time.Time

	// judged remembers each object's health by UID between snapshots.
	judgedMu sync.Mutex
	judged   map[types.UID]judgement
}

// judgement is an object's health and conditions as computed at one
// resourceVersion and, for a Service, one count of ready endpoints: an
// object that has not changed since is not judged again. Conditions are
// shared by the snapshots that show them, and read only.
type judgement struct {
	version    string
	ready      int
	result     Result
	conditions []Condition
	changes    []FieldChange
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithProbeInterval sets how often the API server's readiness is probed
// (DefaultProbeInterval).
func WithProbeInterval(d time.Duration) Option { return func(c *Cluster) { c.probeEvery = d } }

// WithDiscoveryInterval sets how often the served resource types are
// read again (DefaultDiscoveryInterval).
func WithDiscoveryInterval(d time.Duration) Option { return func(c *Cluster) { c.discoverEvery = d } }

// WithClusterKustomization names the Flux Kustomization that applies the
// cluster's directory of the deploy branch (compiler bootstrap's
// slipway-<cluster>): it is watched, in any namespace, for
// Snapshot.ClusterKustomization.
func WithClusterKustomization(name string) Option {
	return func(c *Cluster) { c.clusterKustomization = name }
}

// NewCluster returns a watcher of the cluster cfg reaches.
func NewCluster(name string, cfg *rest.Config, log *slog.Logger, opts ...Option) (*Cluster, error) {
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
	c := &Cluster{name: name, log: log.With(slog.String("cluster", name)), client: dc, disco: disco, changed: make(chan struct{}, 1),
		probeEvery: DefaultProbeInterval, discoverEvery: DefaultDiscoveryInterval}
	for _, o := range opts {
		o(c)
	}
	return c, nil
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

// Run watches the cluster until ctx ends: it probes the API server, builds
// the informers of the resource types it serves once it answers, and
// builds them again when it answers after an outage or serves new types.
func (c *Cluster) Run(ctx context.Context) {
	var cur *informerSet
	defer func() {
		if cur != nil {
			cur.stop()
		}
	}()
	var discovered time.Time
	tick := time.NewTicker(c.probeEvery)
	defer tick.Stop()
	failed := 0 // probes failed in a row
	for {
		err := c.probe(ctx)
		if err == nil {
			failed = 0
		} else {
			failed++
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && (failed >= probeFailures || cur == nil):
			c.unreachable(err)
		case err != nil:
			// One slow answer from a loaded server is not an outage.
		case cur == nil || c.isUnreachable() || time.Since(discovered) >= c.discoverEvery:
			served, err := c.served(ctx)
			if err != nil {
				c.unreachable(err)
				break
			}
			discovered = time.Now()
			if cur != nil && !c.isUnreachable() && maps.Equal(served, cur.served) {
				break
			}
			if next := c.start(ctx, served); next != nil {
				if cur != nil {
					cur.stop()
				}
				cur = next
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe asks the API server whether it is ready.
func (c *Cluster) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(c.probeEvery, 2*time.Second))
	defer cancel()
	if err := c.disco.RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
		return fmt.Errorf("probe /readyz: %w", err)
	}
	return nil
}

// unreachable records why the cluster cannot be read, keeping the time it
// first could not.
func (c *Cluster) unreachable(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.since = time.Now().UTC()
	}
	c.err = err
	c.mu.Unlock()
	if first {
		c.log.Warn("cluster unreachable", slog.String("error", err.Error()))
		c.notify()
	}
}

func (c *Cluster) isUnreachable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// informerSet is one generation of a cluster's informers.
type informerSet struct {
	served    map[schema.GroupVersionResource]bool
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	bootstrap cache.SharedIndexInformer
	factories []dynamicinformer.DynamicSharedInformerFactory
	cancel    context.CancelFunc
}

func (s *informerSet) stop() {
	s.cancel()
	for _, f := range s.factories {
		f.Shutdown()
	}
}

// start builds informers for the served resource types and waits until
// they have listed; then they replace the cluster's earlier ones and the
// cluster is reachable again. It returns nil, having stopped them, when
// they do not list within syncTimeout or ctx ends.
func (c *Cluster) start(ctx context.Context, served map[schema.GroupVersionResource]bool) *informerSet {
	ictx, cancel := context.WithCancel(ctx)
	selected := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = managedSelector })
	all := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll, nil)
	warnings := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.FieldSelector = "type=" + corev1.EventTypeWarning })
	epSlices := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = "kubernetes.io/service-name" })
	set := &informerSet{served: served, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		factories: []dynamicinformer.DynamicSharedInformerFactory{selected, all, warnings, epSlices}, cancel: cancel}
	watchOf := func(f dynamicinformer.DynamicSharedInformerFactory, gvr schema.GroupVersionResource) cache.SharedIndexInformer {
		inf := f.ForResource(gvr).Informer()
		_ = inf.SetTransform(strip)
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			c.log.Debug("watch failed", slog.String("resource", gvr.String()), slog.String("error", err.Error()))
		})
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.notify() },
			UpdateFunc: func(any, any) { c.notify() },
			DeleteFunc: func(any) { c.notify() },
		})
		return inf
	}
	add := func(f dynamicinformer.DynamicSharedInformerFactory, gvr schema.GroupVersionResource) {
		if served[gvr] {
			set.informers[gvr] = watchOf(f, gvr)
		}
	}
	for _, gvr := range Managed {
		add(selected, gvr)
	}
	add(selected, Kustomizations)
	add(all, GitRepositories)
	add(warnings, events)
	add(epSlices, endpointSlices)
	if c.clusterKustomization != "" && served[Kustomizations] {
		byName := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.client, 10*time.Minute, metav1.NamespaceAll,
			func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + c.clusterKustomization })
		set.factories = append(set.factories, byName)
		set.bootstrap = watchOf(byName, Kustomizations)
	}
	for _, f := range set.factories {
		f.Start(ictx.Done())
	}
	syncs := make([]cache.InformerSynced, 0, len(set.informers))
	for _, inf := range set.informers {
		syncs = append(syncs, inf.HasSynced)
	}
	if set.bootstrap != nil {
		syncs = append(syncs, set.bootstrap.HasSynced)
	}
	sctx, scancel := context.WithTimeout(ictx, syncTimeout)
	defer scancel()
	if !cache.WaitForCacheSync(sctx.Done(), syncs...) {
		set.stop()
		if ctx.Err() == nil {
			c.log.Warn("informers did not list in time; building them again", slog.Duration("timeout", syncTimeout))
		}
		return nil
	}
	c.mu.Lock()
	if c.err != nil {
		c.log.Info("cluster reachable again", slog.Duration("after", time.Since(c.since).Round(time.Millisecond)))
	}
	c.informers, c.bootstrap, c.synced, c.err, c.since = set.informers, set.bootstrap, true, nil, time.Time{}
	c.mu.Unlock()
	c.notify()
	return set
}

// served returns which of the watched resource types the cluster serves.
func (c *Cluster) served(ctx context.Context) (map[schema.GroupVersionResource]bool, error) {
	want := append(slices.Clone(Managed), Kustomizations, GitRepositories, endpointSlices, events)
	out := map[schema.GroupVersionResource]bool{}
	byGV := map[schema.GroupVersion][]schema.GroupVersionResource{}
	for _, gvr := range want {
		byGV[gvr.GroupVersion()] = append(byGV[gvr.GroupVersion()], gvr)
	}
	for gv, gvrs := range byGV {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
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
// fields but those field drift reads (keepForeignFields), the values of ConfigMaps, which thus never sit in this
// process's memory, workloads' pod templates (health reads their
// replicas, strategy and status) and the inventory of everything a Flux
// Kustomization applied (status reads its revisions and conditions). At
// thousands of objects the templates were most of the cache.
func strip(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	keepForeignFields(u)
	ann := u.GetAnnotations()
	if _, ok := ann[corev1.LastAppliedConfigAnnotation]; ok {
		delete(ann, corev1.LastAppliedConfigAnnotation)
		u.SetAnnotations(ann)
	}
	switch u.GetKind() {
	case "ConfigMap":
		delete(u.Object, "data")
		delete(u.Object, "binaryData")
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		unstructured.RemoveNestedField(u.Object, "spec", "template")
	case "CronJob":
		unstructured.RemoveNestedField(u.Object, "spec", "jobTemplate")
	case "Kustomization":
		unstructured.RemoveNestedField(u.Object, "status", "inventory")
	}
	return u, nil
}

// Snapshot is what one cluster shows at one moment.
type Snapshot struct {
	Cluster string `json:"cluster"`
	// Synced is false until every informer has listed once.
	Synced bool `json:"synced"`
	// Error says why the cluster cannot be read now, and Since since
	// when; what the informers saw before is kept meanwhile.
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// Objects are the managed objects, with health, conditions and
	// warning events.
	Objects []Object `json:"objects"`
	// Kustomizations are the managed Flux Kustomizations by workflow.
	Kustomizations map[string]*unstructured.Unstructured `json:"-"`
	// GitRepositories are Flux's sources by namespace/name.
	GitRepositories map[string]*unstructured.Unstructured `json:"-"`
	// ClusterKustomization is the Kustomization that applies the
	// cluster's directory (WithClusterKustomization); nil when there is
	// none or none is named. Of several of that name, the one in the
	// namespace of the workflows' Kustomizations is taken.
	ClusterKustomization *unstructured.Unstructured `json:"-"`
}

// Snapshot reads the informers' caches.
func (c *Cluster) Snapshot() Snapshot {
	c.mu.Lock()
	infs, bootstrap, synced, err, since := c.informers, c.bootstrap, c.synced, c.err, c.since
	c.mu.Unlock()
	s := Snapshot{Cluster: c.name, Synced: synced, Kustomizations: map[string]*unstructured.Unstructured{}, GitRepositories: map[string]*unstructured.Unstructured{}}
	if err != nil {
		s.Error, s.Since = err.Error(), since
	}
	listOf := func(inf cache.SharedIndexInformer) []*unstructured.Unstructured {
		if inf == nil {
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
	list := func(gvr schema.GroupVersionResource) []*unstructured.Unstructured { return listOf(infs[gvr]) }
	ready := readyEndpoints(list(endpointSlices))
	warn := warningsByObject(list(events))
	// Of thousands of objects, a change touches a few: the others keep
	// the judgement of the last snapshot.
	c.judgedMu.Lock()
	judged := make(map[types.UID]judgement, len(c.judged))
	for _, gvr := range Managed {
		for _, u := range list(gvr) {
			n := -1
			if gvr.Resource == "services" {
				n = ready[u.GetNamespace()+"/"+u.GetName()]
			}
			uid, version := u.GetUID(), u.GetResourceVersion()
			j, ok := c.judged[uid]
			if !ok || uid == "" || j.version != version || j.ready != n {
				j = judgement{version: version, ready: n, conditions: Conditions(u), changes: foreignChanges(u)}
				if n >= 0 {
					j.result = ServiceHealth(u, n)
				} else {
					j.result = Compute(u)
				}
			}
			if uid != "" {
				judged[uid] = j
			}
			s.Objects = append(s.Objects, objectOf(u, j, warn))
		}
	}
	c.judged = judged
	c.judgedMu.Unlock()
	for _, u := range list(Kustomizations) {
		if wf := u.GetLabels()[workflow.LabelPartOf]; wf != "" {
			s.Kustomizations[wf] = u
		}
	}
	for _, u := range list(GitRepositories) {
		s.GitRepositories[u.GetNamespace()+"/"+u.GetName()] = u
	}
	s.ClusterKustomization = bootstrapOf(listOf(bootstrap), s.Kustomizations)
	return s
}

// bootstrapOf picks the cluster Kustomization among those of its name:
// the one that shares a namespace with a workflow's Kustomization, else
// the first by namespace.
func bootstrapOf(named []*unstructured.Unstructured, workflows map[string]*unstructured.Unstructured) *unstructured.Unstructured {
	slices.SortFunc(named, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetNamespace(), b.GetNamespace()) })
	for _, u := range named {
		for _, k := range workflows {
			if k.GetNamespace() == u.GetNamespace() {
				return u
			}
		}
	}
	if len(named) == 0 {
		return nil
	}
	return named[0]
}

func objectOf(u *unstructured.Unstructured, j judgement, warn map[string][]Event) Object {
	gvk := u.GroupVersionKind()
	o := Object{
		Kind: gvk.Kind, Group: gvk.Group, Namespace: u.GetNamespace(), Name: u.GetName(),
		Workflow: u.GetLabels()[workflow.LabelPartOf], Node: u.GetAnnotations()[workflow.AnnotationNodeID],
		Owned: metav1.GetControllerOfNoCopy(u) != nil, Result: j.result, Conditions: j.conditions, Changes: j.changes,
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
