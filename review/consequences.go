package review

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// ConsequenceKind names what Kubernetes or Flux does, once a change
// merges, that its author may not expect.
type ConsequenceKind string

// Kinds of consequence.
const (
	// Immutable: a field that cannot change in place changes. Flux's
	// dry-run fails with "field is immutable" and the object's whole
	// Kustomization stops applying until the change is reverted.
	Immutable ConsequenceKind = "immutable"
	// JobRerun: a Job's pod template changes; Flux deletes and re-creates
	// the Job (it carries kustomize.toolkit.fluxcd.io/force), which runs
	// again.
	JobRerun ConsequenceKind = "job-rerun"
	// ReplicasToHPA: a workload's replicas go to an HPA; the applied
	// object loses spec.replicas and Kubernetes sets 1 until the HPA acts
	// (kubernetes#67135). An hpa node never does this (the compiler keeps
	// the count and Flux leaves it to the HPA); an HPA a plugin node
	// renders may.
	ReplicasToHPA ConsequenceKind = "replicas-to-hpa"
	// ConfigNoRollout: a ConfigMap's or Secret's data changes but the pod
	// templates of its consumers do not, so running pods keep the old
	// values. A workload node that reads a ConfigMap or Secret node never
	// does this (the config hash on its pod template changes); a workload
	// a plugin node renders may.
	ConfigNoRollout ConsequenceKind = "config-no-rollout"
	// Prune: an object leaves the deploy branch and Flux deletes it.
	Prune ConsequenceKind = "prune"
	// Kept: Flux keeps an object as it is by design: one that leaves the
	// deploy branch with prune disabled (a Namespace, a claim), or an
	// adopted Job whose template changes (Flux creates it only if missing).
	Kept ConsequenceKind = "kept"
)

// ConsequenceKinds lists every kind of consequence.
func ConsequenceKinds() []ConsequenceKind {
	return []ConsequenceKind{Immutable, JobRerun, ReplicasToHPA, ConfigNoRollout, Prune, Kept}
}

// Consequence is one thing Kubernetes or Flux does when a change merges.
type Consequence struct {
	Kind ConsequenceKind `json:"kind"`
	// Workflow is the workflow of the object, or "clusters" for the
	// objects of a cluster directory.
	Workflow string `json:"workflow"`
	// NodeID is the node the object was rendered from, when known.
	NodeID string   `json:"node_id,omitempty"`
	Object ObjectID `json:"object"`
	// Field is the object's field at stake, as FieldChange paths are
	// written: spec.volumeClaimTemplates.
	Field string `json:"field,omitempty"`
	// Message says what happens, in plain words.
	Message string `json:"message"`
	// File and Pointer place the cause in the head's workflow file: a JSON
	// pointer to the changed value of the node, or to the node, or to the
	// changed top-level field (/status); empty for the whole file. File is
	// empty when the head has no such file.
	File    string `json:"file,omitempty"`
	Pointer string `json:"pointer,omitempty"`
}

// String is the consequence's message.
func (c Consequence) String() string { return c.Message }

// consequences lists what merging does, from the objects Flux applies
// before (base) and after (head) the change.
func consequences(base, head map[ObjectID]appliedObject) []Consequence {
	ids := idsOf(base)
	maps.Copy(ids, idsOf(head))
	out := []Consequence{}
	for _, id := range sortedIDs(ids) {
		a, inBase := base[id]
		b, inHead := head[id]
		switch {
		case inBase && !inHead:
			out = append(out, pruned(a))
		case inBase && inHead && a.raw != b.raw:
			out = append(out, modified(a, b, base, head)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Workflow < out[j].Workflow })
	return out
}

// newConsequence is a consequence for object o.
func newConsequence(kind ConsequenceKind, o appliedObject, field, format string, args ...any) Consequence {
	node, _ := lookup(o.values, "metadata", "annotations", workflow.AnnotationNodeID).(string)
	return Consequence{
		Kind:     kind,
		Workflow: o.workflow,
		NodeID:   node,
		Object:   o.id,
		Field:    field,
		Message:  subject(o.id) + ": " + fmt.Sprintf(format, args...),
	}
}

// subject names an object in a message: "statefulset db".
func subject(id ObjectID) string { return strings.ToLower(id.Kind) + " " + id.Name }

// applier names what stops applying when an object's apply fails.
func applier(o appliedObject) string {
	if o.workflow == clustersGroup {
		return "the objects of cluster " + o.id.Cluster
	}
	return "workflow " + o.workflow
}

func pruned(o appliedObject) Consequence {
	where := "the cluster"
	if o.id.Namespace != "" {
		where = "namespace " + o.id.Namespace
	}
	if o.kept {
		return newConsequence(Kept, o, "", "leaves the deploy branch; Flux keeps it in %s (prune disabled) — delete it by hand when it is no longer needed", where)
	}
	return newConsequence(Prune, o, "", "leaves the deploy branch — Flux deletes it from %s", where)
}

// modified lists the consequences of a change to an object, a in the
// base and b in the head.
func modified(a, b appliedObject, base, head map[ObjectID]appliedObject) []Consequence {
	as, _ := a.values["spec"].(map[string]any)
	bs, _ := b.values["spec"].(map[string]any)
	var changed []string // the spec's changed top-level fields
	for _, k := range slices.Sorted(maps.Keys(union(as, bs))) {
		if !reflect.DeepEqual(as[k], bs[k]) {
			changed = append(changed, k)
		}
	}
	immutable := func(field string) Consequence {
		return newConsequence(Immutable, b, "spec."+field, "%s changed — immutable; Flux will stop applying %s until this is reverted", field, applier(b))
	}
	var out []Consequence
	switch b.id.Kind {
	case "StatefulSet":
		// The fields Kubernetes lets a StatefulSet's update change.
		mutable := []string{"replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}
		for _, k := range changed {
			if !slices.Contains(mutable, k) {
				out = append(out, immutable(k))
			}
		}
		out = append(out, toHPA(a, b, head)...)
	case "Deployment", "DaemonSet":
		if slices.Contains(changed, "selector") {
			out = append(out, immutable("selector"))
		}
		out = append(out, toHPA(a, b, head)...)
	case "Service":
		out = append(out, headless(b, as["clusterIP"], bs["clusterIP"])...)
	case "PersistentVolumeClaim":
		// A bound claim may grow; nothing else of its spec changes.
		for _, k := range changed {
			if !slices.Contains([]string{"resources", "volumeAttributesClassName"}, k) {
				out = append(out, immutable(k))
			}
		}
		out = append(out, shrunk(b, as, bs)...)
	case "Job":
		immutableJob := []string{"completions", "selector", "template", "completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"}
		for _, k := range changed {
			if !slices.Contains(immutableJob, k) {
				continue
			}
			what := k
			if k == "template" {
				what = "pod template"
			}
			if lookup(b.values, "metadata", "annotations", ssaAnnotation) == "IfNotPresent" {
				out = append(out, newConsequence(Kept, b, "spec."+k, "%s changed — Flux creates this Job only where it is missing (%s: IfNotPresent), so the Job that exists stays as it ran; delete it to run the new one", what, ssaAnnotation))
				continue
			}
			if lookup(b.values, "metadata", "annotations", forceAnnotation) != "enabled" {
				out = append(out, immutable(k))
				continue
			}
			out = append(out, newConsequence(JobRerun, b, "spec."+k, "%s changed — immutable, so Flux deletes and re-creates the Job (%s: enabled) and it runs again", what, forceAnnotation))
		}
	case "ConfigMap", "Secret":
		out = append(out, notRolledOut(a, b, base, head)...)
	}
	return out
}

// forceAnnotation makes Flux re-create an object whose change is refused
// as immutable.
const forceAnnotation = "kustomize.toolkit.fluxcd.io/force"

// ssaAnnotation says how Flux applies an object; a Job on a cluster that
// adopts what another tool made carries IfNotPresent.
const ssaAnnotation = compiler.AnnotationFluxSSA

// toHPA reports a workload whose replicas an HPA takes over: the applied
// object loses spec.replicas, which Kubernetes then defaults to 1.
func toHPA(a, b appliedObject, head map[ObjectID]appliedObject) []Consequence {
	old := lookup(a.values, "spec", "replicas")
	if old == nil || lookup(b.values, "spec", "replicas") != nil || fmt.Sprint(old) == "1" {
		return nil
	}
	for _, h := range head {
		if h.id.Kind == "HorizontalPodAutoscaler" && h.id.Cluster == b.id.Cluster && h.id.Namespace == b.id.Namespace &&
			lookup(h.values, "spec", "scaleTargetRef", "kind") == b.id.Kind && lookup(h.values, "spec", "scaleTargetRef", "name") == b.id.Name {
			return []Consequence{newConsequence(ReplicasToHPA, b, "spec.replicas",
				"replicas (%v) handed to hpa %s — the applied object drops spec.replicas and Kubernetes sets 1 until the HPA acts (kubernetes#67135)", old, h.id.Name)}
		}
	}
	return nil
}

// headless reports a Service whose clusterIP changes to or from None.
func headless(b appliedObject, from, to any) []Consequence {
	switch {
	case from == to:
		return nil
	case to == "None":
		return []Consequence{newConsequence(Immutable, b, "spec.clusterIP", "turned headless (clusterIP: None) — clusterIP is immutable; Flux will stop applying %s until this is reverted or the Service is re-created", applier(b))}
	case from == "None":
		return []Consequence{newConsequence(Immutable, b, "spec.clusterIP", "no longer headless — clusterIP cannot change once set; the Service stays headless until it is re-created")}
	}
	return nil
}

// shrunk reports a claim whose requested storage gets smaller.
func shrunk(b appliedObject, as, bs map[string]any) []Consequence {
	from, _ := lookup(as, "resources", "requests", "storage").(string)
	to, _ := lookup(bs, "resources", "requests", "storage").(string)
	f, errF := resource.ParseQuantity(from)
	t, errT := resource.ParseQuantity(to)
	if errF != nil || errT != nil || t.Cmp(f) >= 0 {
		return nil
	}
	return []Consequence{newConsequence(Immutable, b, "spec.resources.requests.storage",
		"storage shrinks from %s to %s — a claim cannot shrink; Flux will stop applying %s until this is reverted", from, to, applier(b))}
}

// notRolledOut reports, for a ConfigMap or Secret whose data changed,
// each workload that uses it and whose pod template does not change: its
// running pods keep the old values.
func notRolledOut(a, b appliedObject, base, head map[ObjectID]appliedObject) []Consequence {
	same := true
	for _, k := range []string{"data", "binaryData", "stringData"} {
		same = same && reflect.DeepEqual(a.values[k], b.values[k])
	}
	if same {
		return nil
	}
	var out []Consequence
	for _, id := range sortedIDs(idsOf(head)) {
		switch id.Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
		default:
			continue
		}
		w := head[id]
		old, inBase := base[id]
		tmpl := lookup(w.values, "spec", "template")
		if id.Cluster != b.id.Cluster || id.Namespace != b.id.Namespace || !inBase ||
			!uses(tmpl, b.id.Kind, b.id.Name) || !reflect.DeepEqual(tmpl, lookup(old.values, "spec", "template")) {
			continue
		}
		out = append(out, newConsequence(ConfigNoRollout, b, "data",
			"data changed, but the pod template of %s does not — its running pods keep the old environment until they restart", subject(id)))
	}
	return out
}

// uses reports whether a pod template refers to the ConfigMap or Secret
// (kind) name: in a volume, a projected source, envFrom or an env value.
func uses(v any, kind, name string) bool {
	keys := []string{"configMap", "configMapRef", "configMapKeyRef"}
	if kind == "Secret" {
		keys = []string{"secret", "secretRef", "secretKeyRef"}
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if ref, ok := x.(map[string]any); ok && slices.Contains(keys, k) && (ref["name"] == name || ref["secretName"] == name) {
				return true
			}
			if uses(x, kind, name) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if uses(x, kind, name) {
				return true
			}
		}
	}
	return false
}

// lookup returns the value at a path of map keys, or nil.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func union(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func idsOf(m map[ObjectID]appliedObject) map[ObjectID]bool {
	out := make(map[ObjectID]bool, len(m))
	for id := range m {
		out[id] = true
	}
	return out
}

// place sets where each consequence's cause is in the head's workflow
// file, from the reviews of the changed workflows.
func place(cs []Consequence, head source.Files, reviews map[string]*WorkflowReview) {
	graphs := map[string]*workflow.Graph{}
	for i := range cs {
		c := &cs[i]
		file := workflow.WorkflowFile(c.Workflow)
		data, ok := head[file]
		if !ok {
			continue
		}
		c.File = file
		g, seen := graphs[c.Workflow]
		if !seen {
			g, _ = workflow.ParseGraph(data)
			graphs[c.Workflow] = g
		}
		c.Pointer = pointer(g, reviews[c.Workflow], c.NodeID, c.Field)
	}
}

// pointer points at the cause of a consequence for node id in graph g:
// the node's changed value that has the name of the object's field, or
// its first changed value; else the workflow's first changed top-level
// field (/status, /namespace); else the node.
func pointer(g *workflow.Graph, w *WorkflowReview, id, field string) string {
	node := ""
	if g != nil && id != "" {
		for i, n := range g.Nodes {
			if n.ID == id {
				node = fmt.Sprintf("/nodes/%d", i)
				break
			}
		}
	}
	if w == nil {
		return node
	}
	if node != "" && w.Graph != nil {
		for _, m := range w.Graph.ModifiedNodes {
			if m.NodeID == id && len(m.Changes) > 0 {
				return node + namedChange(m.Changes, field)
			}
		}
	}
	if len(w.Fields) > 0 {
		return w.Fields[0].Path
	}
	return node
}

// namedChange returns the path of the change whose last key is the last
// key of an object's field (spec.resources.requests.storage matches
// /data/storage), or else of the first change.
func namedChange(changes []workflow.Change, field string) string {
	last := field[strings.LastIndex(field, ".")+1:]
	for _, c := range changes {
		if strings.HasSuffix(c.Path, "/"+last) {
			return c.Path
		}
	}
	return changes[0].Path
}
