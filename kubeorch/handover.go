package kubeorch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// FieldManager is the field manager KubeOrch creates and updates its
// objects as: its dynamic client's default, the name of its binary.
const FieldManager = "kubeorch-core"

// FluxManager is the field manager Flux's kustomize-controller applies
// objects as.
const FluxManager = "kustomize-controller"

// ManagedSelector selects the objects KubeOrch manages: its templates
// label each one managed-by: kubeorch.
const ManagedSelector = "managed-by=kubeorch"

// handOverManager names the hand-over's own writes. They change only
// managedFields, which no field manager owns, so it owns no field.
const handOverManager = "slipway-handover"

// handedOverKind is a kind whose objects HandOver hands to Flux.
type handedOverKind struct {
	kind     string
	resource schema.GroupVersionResource
}

// handedOverKinds are KubeOrch's workloads: the kinds whose environment
// values KubeOrch sets at run time, which Flux must own to remove them.
// Flux leaves the Jobs KubeOrch ran as they are, and applies its other
// kinds without a field that conflicts.
func handedOverKinds() []handedOverKind {
	return []handedOverKind{
		{"Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
		{"StatefulSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}},
		{"DaemonSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}},
		{"CronJob", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}},
	}
}

// HandOverResources names the resources HandOver reads and patches, as
// a Role's rules name them: it needs get, list and patch on them.
func HandOverResources() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, k := range handedOverKinds() {
		out = append(out, k.resource)
	}
	return out
}

// HandOverOptions configure HandOver.
type HandOverOptions struct {
	// Namespace is the namespace KubeOrch deployed to.
	Namespace string
	// DryRun reports the objects whose fields would be handed over and
	// writes nothing.
	DryRun bool
	// Handed, if set, is called with each object (as Kind/name) whose
	// fields are handed over, or would be with DryRun, once it is.
	Handed func(object string)
}

// Validate reports options HandOver cannot run with.
func (o HandOverOptions) Validate() error {
	if o.Namespace == "" {
		return errors.New("hand-over: a namespace is required")
	}
	return nil
}

// HandOver hands the fields KubeOrch's field manager owns on its
// workloads in a namespace (those ManagedSelector selects) to Flux's
// kustomize-controller, as HandOverFields does, so that Flux's first
// apply removes what the workflow no longer draws instead of failing on
// it. It changes no object's spec, only managedFields, each object with
// one patch on the resourceVersion it read, read again and retried when
// another writer changed the object meanwhile. It returns how many
// objects it handed over; a second run hands over none. An error names
// the object; the objects before it stay handed over.
func HandOver(ctx context.Context, client dynamic.Interface, opts HandOverOptions) (int, error) {
	if err := opts.Validate(); err != nil {
		return 0, err
	}
	n := 0
	for _, k := range handedOverKinds() {
		objects := client.Resource(k.resource).Namespace(opts.Namespace)
		list, err := objects.List(ctx, metav1.ListOptions{LabelSelector: ManagedSelector})
		if err != nil {
			return n, fmt.Errorf("hand-over: list %s in %s: %w", k.resource.Resource, opts.Namespace, err)
		}
		for i := range list.Items {
			name := k.kind + "/" + list.Items[i].GetName()
			handed, err := handOverObject(ctx, objects, &list.Items[i], opts.DryRun)
			if err != nil {
				return n, fmt.Errorf("hand-over: %s in %s: %w", name, opts.Namespace, err)
			}
			if !handed {
				continue
			}
			n++
			if opts.Handed != nil {
				opts.Handed(name)
			}
		}
	}
	return n, nil
}

// fieldsPatch is a merge patch of an object's managedFields, made on
// its resourceVersion: the server refuses it with a conflict once
// another write changed the object.
type fieldsPatch struct {
	Metadata struct {
		ResourceVersion string                      `json:"resourceVersion"`
		ManagedFields   []metav1.ManagedFieldsEntry `json:"managedFields"`
	} `json:"metadata"`
}

// handOverObject hands obj's fields over, reading it again after a
// conflict, and says whether there was anything to hand over.
func handOverObject(ctx context.Context, objects dynamic.ResourceInterface, obj *unstructured.Unstructured, dryRun bool) (bool, error) {
	handed := false
	err := retry.RetryOnConflict(conflictBackoff(), func() error {
		fields, ok, err := HandOverFields(obj.GetManagedFields())
		if err != nil || !ok || dryRun {
			handed = ok
			return err
		}
		var p fieldsPatch
		p.Metadata.ResourceVersion = obj.GetResourceVersion()
		p.Metadata.ManagedFields = fields
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		_, err = objects.Patch(ctx, obj.GetName(), types.MergePatchType, b, metav1.PatchOptions{FieldManager: handOverManager})
		if err == nil {
			handed = true
			return nil
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		got, getErr := objects.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if getErr != nil {
			return fmt.Errorf("read again after a conflict: %w", getErr)
		}
		obj = got
		return err
	})
	return handed, err
}

// conflictBackoff is how often, and after how long, handOverObject tries
// again after a conflict: a workload's controller writes its status
// several times a second while it rolls out, so it backs off, ten tries
// in some five seconds.
func conflictBackoff() wait.Backoff {
	return wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.1}
}

// HandOverFields returns an object's managedFields with KubeOrch's
// (FieldManager's entries on the object itself, not on a subresource)
// handed to Flux: they and FluxManager's Apply entry, if there is one,
// become one Apply entry of FluxManager that owns every field they owned,
// as if Flux had applied them. The other entries are kept as they are.
// ok is false, and fields is returned as it is, when FieldManager owns
// nothing there. Entries of different API versions are refused: their
// fields cannot be merged as they are.
func HandOverFields(fields []metav1.ManagedFieldsEntry) (_ []metav1.ManagedFieldsEntry, ok bool, err error) {
	var taken []metav1.ManagedFieldsEntry
	var kept []metav1.ManagedFieldsEntry
	for _, f := range fields {
		switch {
		case f.Subresource != "":
			kept = append(kept, f)
		case f.Manager == FieldManager:
			ok = true
			taken = append(taken, f)
		case f.Manager == FluxManager && f.Operation == metav1.ManagedFieldsOperationApply:
			taken = append(taken, f)
		default:
			kept = append(kept, f)
		}
	}
	if !ok {
		return fields, false, nil
	}
	merged := metav1.ManagedFieldsEntry{
		Manager:    FluxManager,
		Operation:  metav1.ManagedFieldsOperationApply,
		APIVersion: taken[0].APIVersion,
		FieldsType: "FieldsV1",
	}
	set := &fieldpath.Set{}
	for _, f := range taken {
		if f.APIVersion != merged.APIVersion {
			return nil, false, fmt.Errorf("%s's fields in %s and %s's in %s: fields of different API versions cannot be merged",
				taken[0].Manager, merged.APIVersion, f.Manager, f.APIVersion)
		}
		if f.FieldsType != "FieldsV1" {
			return nil, false, fmt.Errorf("%s's fields are of type %q, not FieldsV1", f.Manager, f.FieldsType)
		}
		if f.Time != nil && (merged.Time == nil || merged.Time.Before(f.Time)) {
			merged.Time = f.Time
		}
		if f.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(f.FieldsV1.Raw)); err != nil {
			return nil, false, fmt.Errorf("%s's fields: %w", f.Manager, err)
		}
		set = set.Union(s)
	}
	raw, err := set.ToJSON()
	if err != nil {
		return nil, false, fmt.Errorf("merged fields: %w", err)
	}
	merged.FieldsV1 = &metav1.FieldsV1{Raw: raw}
	return append(kept, merged), true, nil
}
