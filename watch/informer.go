package watch

import (
	"cmp"
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

// builtin are the resource types every Cluster watches; others are
// plugin kinds (see pluginKind).
var builtin = func() map[schema.GroupVersionResource]bool {
	m := map[schema.GroupVersionResource]bool{Kustomizations: true, GitRepositories: true, endpointSlices: true, events: true}
	for _, gvr := range Managed {
		m[gvr] = true
	}
	return m
}()

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
//
// Plugin kinds, the custom resources of plugin nodes, are watched as
// Flux applies them: a kind that a workflow Kustomization's inventory
// names for the first time has the informers built again with it within
// a probe interval, if the cluster serves it and lets this process list
// it. A plugin kind stays watched until the process ends.
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
	// fluxNamespaces are the namespaces whose Flux objects are
	// Slipway's, the one it renders into first (WithFluxNamespaces); nil
	// believes every namespace.
	fluxNamespaces []string

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	// bootstrap watches the cluster Kustomization, when one is named.
	bootstrap cache.SharedIndexInformer
	synced    bool
	err       error
	since     time.Time
	// plugins are the plugin kinds the inventories named, and
	// newPlugins is set when one is new since the informers were built.
	plugins    map[schema.GroupVersionKind]bool
	newPlugins bool
	// watchedPlugins are the plugin kinds the current informers watch.
	watchedPlugins map[schema.GroupKind]bool

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
	figures    *Figures
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

// WithFluxNamespaces names the namespaces whose Flux objects are
// Slipway's: first the one the compiler renders them into (its
// --flux-namespace, the namespace of the service's HOOKS_FLUX_SOURCE),
// then, while they move from another, that one (HOOKS_FLUX_MOVE_FROM).
// Only there are a workflow's Kustomization, the cluster Kustomization
// and the GitRepositories read: whoever may create a Kustomization in
// another namespace may label it as a workflow's, and would otherwise
// decide what its sync reads. Of two Kustomizations of one workflow, the
// one in the earlier namespace is taken. Without this option every
// namespace is believed.
func WithFluxNamespaces(namespaces ...string) Option {
	return func(c *Cluster) { c.fluxNamespaces = slices.Clone(namespaces) }
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
		case cur == nil || c.isUnreachable() || time.Since(discovered) >= c.discoverEvery || c.takeNewPlugins():
			served, plugins, err := c.served(ctx)
			if err != nil {
				c.unreachable(err)
				break
			}
			discovered = time.Now()
			if cur != nil && !c.isUnreachable() && maps.Equal(served, cur.served) {
				break
			}
			if next := c.start(ctx, served, plugins); next != nil {
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

// takeNewPlugins reports whether an inventory named a plugin kind that
// is not watched yet, and forgets it was told.
func (c *Cluster) takeNewPlugins() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.newPlugins
	c.newPlugins = false
	return n
}

// seeInventory notes the plugin kinds a workflow Kustomization's
// inventory names.
func (c *Cluster) seeInventory(obj any) {
	k, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	entries, _ := Inventory(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		gvk := e.GroupVersionKind()
		if !pluginKind(gvk) || c.plugins[gvk] {
			continue
		}
		if c.plugins == nil {
			c.plugins = map[schema.GroupVersionKind]bool{}
		}
		c.plugins[gvk] = true
		c.newPlugins = true
	}
}

// pluginKind reports whether a kind a workflow applied is a plugin's:
// one in an API group of its own, not watched otherwise. The core group
// (Secrets, ServiceAccounts, Namespaces) and RBAC's, whose objects the
// compiler renders for accounts and tenancy and status does not judge,
// are never watched.
func pluginKind(gvk schema.GroupVersionKind) bool {
	switch gvk.Group {
	case "", "rbac.authorization.k8s.io":
		return false
	}
	if _, ok := watchedGroup(gvk.Group, gvk.Kind, nil); ok {
		return false
	}
	switch gvk.GroupKind().String() {
	case "Kustomization." + Kustomizations.Group, "GitRepository." + GitRepositories.Group:
		return false
	}
	return true
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
func (c *Cluster) start(ctx context.Context, served map[schema.GroupVersionResource]bool, plugins map[schema.GroupVersionResource]schema.GroupKind) *informerSet {
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
	for gvr := range plugins {
		add(selected, gvr)
	}
	add(selected, Kustomizations)
	if inf := set.informers[Kustomizations]; inf != nil {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.seeInventory,
			UpdateFunc: func(_, obj any) { c.seeInventory(obj) },
		})
	}
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
	c.watchedPlugins = map[schema.GroupKind]bool{}
	for _, gk := range plugins {
		c.watchedPlugins[gk] = true
	}
	c.mu.Unlock()
	c.notify()
	return set
}

// served returns which of the watched resource types the cluster serves,
// and of the plugin kinds the inventories named, the resource types of
// those it serves and lets this process list.
func (c *Cluster) served(ctx context.Context) (map[schema.GroupVersionResource]bool, map[schema.GroupVersionResource]schema.GroupKind, error) {
	c.mu.Lock()
	kinds := slices.Collect(maps.Keys(c.plugins))
	c.mu.Unlock()
	out := map[schema.GroupVersionResource]bool{}
	plugins := map[schema.GroupVersionResource]schema.GroupKind{}
	byGV := map[schema.GroupVersion][]schema.GroupVersionResource{}
	for gvr := range builtin {
		byGV[gvr.GroupVersion()] = append(byGV[gvr.GroupVersion()], gvr)
	}
	kindsByGV := map[schema.GroupVersion][]string{}
	for _, gvk := range kinds {
		kindsByGV[gvk.GroupVersion()] = append(kindsByGV[gvk.GroupVersion()], gvk.Kind)
		if byGV[gvk.GroupVersion()] == nil {
			byGV[gvk.GroupVersion()] = []schema.GroupVersionResource{}
		}
	}
	for gv, gvrs := range byGV {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		list, err := c.disco.ServerResourcesForGroupVersion(gv.String())
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue // e.g. Flux is not installed, or a plugin's CRD
			}
			return nil, nil, fmt.Errorf("discover %s: %w", gv, err)
		}
		for _, r := range list.APIResources {
			for _, gvr := range gvrs {
				if r.Name == gvr.Resource {
					out[gvr] = true
				}
			}
			if strings.Contains(r.Name, "/") || !slices.Contains(kindsByGV[gv], r.Kind) {
				continue
			}
			gvr := gv.WithResource(r.Name)
			if err := c.canList(ctx, gvr); err != nil {
				c.log.Warn("plugin kind not watched", slog.String("resource", gvr.String()), slog.String("error", err.Error()))
				continue
			}
			out[gvr] = true
			plugins[gvr] = schema.GroupKind{Group: gv.Group, Kind: r.Kind}
		}
	}
	return out, plugins, nil
}

// canList lists one object of a plugin's resource type, as its informer
// would: an informer that may not list never syncs, and would hold up
// every other.
func (c *Cluster) canList(ctx context.Context, gvr schema.GroupVersionResource) error {
	_, err := c.client.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: managedSelector, Limit: 1})
	return err
}

// strip drops what status never reads before an object is cached: managed
// fields but those field drift reads (keepForeignFields), the values of
// ConfigMaps, which thus never sit in this process's memory, and workloads'
// pod templates (health reads their replicas, strategy and status). At
// thousands of objects the templates were most of the cache. A Flux
// Kustomization's inventory is kept: it names what the workflow expects
// (see StatusOf) and the plugin kinds to watch.
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
	// Objects are the managed objects, with health, conditions, figures
	// and warning events.
	Objects []Object `json:"objects"`
	// Plugins are the plugin kinds watched (see Cluster).
	Plugins map[schema.GroupKind]bool `json:"-"`
	// Kustomizations are the managed Flux Kustomizations by workflow, of
	// the Flux namespaces (WithFluxNamespaces).
	Kustomizations map[string]*unstructured.Unstructured `json:"-"`
	// ForeignKustomizations are the managed Kustomizations labelled as a
	// workflow's outside the Flux namespaces, by workflow: drift, never
	// its sync (see StatusOf).
	ForeignKustomizations map[string][]Ref `json:"-"`
	// GitRepositories are Flux's sources of the Flux namespaces by
	// namespace/name.
	GitRepositories map[string]*unstructured.Unstructured `json:"-"`
	// ClusterKustomization is the Kustomization that applies the
	// cluster's directory (WithClusterKustomization), of the Flux
	// namespaces; nil when there is none or none is named. Of several of
	// that name, the one in the earliest Flux namespace that holds a
	// workflow's Kustomization is taken.
	ClusterKustomization *unstructured.Unstructured `json:"-"`
}

// Snapshot reads the informers' caches.
func (c *Cluster) Snapshot() Snapshot {
	c.mu.Lock()
	infs, bootstrap, synced, err, since, plugins := c.informers, c.bootstrap, c.synced, c.err, c.since, c.watchedPlugins
	c.mu.Unlock()
	s := Snapshot{Cluster: c.name, Synced: synced, Plugins: plugins, Kustomizations: map[string]*unstructured.Unstructured{},
		ForeignKustomizations: map[string][]Ref{}, GitRepositories: map[string]*unstructured.Unstructured{}}
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
	// Managed first, then the plugins' by name: the same objects always
	// come in the same order.
	watched := slices.Clone(Managed)
	for _, gvr := range slices.SortedFunc(maps.Keys(infs), func(a, b schema.GroupVersionResource) int { return strings.Compare(a.String(), b.String()) }) {
		if !builtin[gvr] {
			watched = append(watched, gvr)
		}
	}
	for _, gvr := range watched {
		for _, u := range list(gvr) {
			n := -1
			if gvr.Resource == "services" && gvr.Group == "" {
				n = ready[u.GetNamespace()+"/"+u.GetName()]
			}
			uid, version := u.GetUID(), u.GetResourceVersion()
			j, ok := c.judged[uid]
			if !ok || uid == "" || j.version != version || j.ready != n {
				j = judgement{version: version, ready: n, conditions: Conditions(u), result: Compute(u), figures: FiguresOf(u, n), changes: foreignChanges(u)}
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
		wf := u.GetLabels()[workflow.LabelPartOf]
		switch {
		case wf == "":
		case !c.believed(u):
			s.ForeignKustomizations[wf] = append(s.ForeignKustomizations[wf],
				Ref{Group: Kustomizations.Group, Kind: "Kustomization", Namespace: u.GetNamespace(), Name: u.GetName()})
		case s.Kustomizations[wf] == nil || c.fluxOrder(u, s.Kustomizations[wf]) < 0:
			s.Kustomizations[wf] = u
		}
	}
	for _, u := range list(GitRepositories) {
		if c.believed(u) {
			s.GitRepositories[u.GetNamespace()+"/"+u.GetName()] = u
		}
	}
	named := slices.DeleteFunc(listOf(bootstrap), func(u *unstructured.Unstructured) bool { return !c.believed(u) })
	slices.SortFunc(named, c.fluxOrder)
	s.ClusterKustomization = bootstrapOf(named, s.Kustomizations)
	return s
}

// believed reports whether u, a Flux object, is in a Flux namespace
// (WithFluxNamespaces).
func (c *Cluster) believed(u *unstructured.Unstructured) bool {
	return c.fluxNamespaces == nil || slices.Contains(c.fluxNamespaces, u.GetNamespace())
}

// fluxOrder orders Flux objects of the Flux namespaces by the order of
// their namespaces (WithFluxNamespaces), then by namespace and name.
func (c *Cluster) fluxOrder(a, b *unstructured.Unstructured) int {
	return cmp.Or(cmp.Compare(slices.Index(c.fluxNamespaces, a.GetNamespace()), slices.Index(c.fluxNamespaces, b.GetNamespace())),
		strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
}

// bootstrapOf picks the cluster Kustomization among those of its name, in
// order: the first that shares a namespace with a workflow's
// Kustomization, else the first.
func bootstrapOf(named []*unstructured.Unstructured, workflows map[string]*unstructured.Unstructured) *unstructured.Unstructured {
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
		Owned: metav1.GetControllerOfNoCopy(u) != nil, Result: j.result, Conditions: j.conditions, Changes: j.changes, Figures: j.figures,
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
