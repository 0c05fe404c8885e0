package review

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/internal/english"
	"github.com/slipway-gitops/slipway/workflow"
)

// fluxFieldManager is the field manager kustomize-controller applies
// with: a dry-run under another name would show Flux's own fields as
// conflicts or as removed.
const fluxFieldManager = "kustomize-controller"

// kustomizationAPIVersion is the API version of the rendered Flux
// Kustomizations.
var kustomizationAPIVersion = kustomizev1.GroupVersion.String()

// Flux's labels and annotations on an object that change how it is
// applied, and the ownership labels kustomize-controller sets.
var (
	fluxSSA            = kustomizev1.GroupVersion.Group + "/ssa"
	fluxReconcile      = kustomizev1.GroupVersion.Group + "/reconcile"
	fluxForce          = kustomizev1.GroupVersion.Group + "/force"
	fluxOwnerName      = kustomizev1.GroupVersion.Group + "/name"
	fluxOwnerNamespace = kustomizev1.GroupVersion.Group + "/namespace"
)

// kustomization is what a dry-run needs of the Flux Kustomization that
// applies an object.
type kustomization struct {
	name, namespace string
	// force recreates every object whose apply fails on an immutable
	// field (spec.force).
	force bool
	// ignore are the fields Flux leaves to the cluster (spec.ignore).
	ignore []kustomizev1.IgnoreRule
}

// readSpec reads force and ignore from a rendered Kustomization.
func (k *kustomization) readSpec(values map[string]any) {
	b, err := json.Marshal(values["spec"])
	if err != nil {
		return
	}
	var spec kustomizev1.KustomizationSpec
	if json.Unmarshal(b, &spec) == nil {
		k.force, k.ignore = spec.Force, spec.Ignore
	}
}

// ignored returns the JSON pointers of the fields Flux leaves to the
// cluster on obj.
func (k kustomization) ignored(obj *unstructured.Unstructured) []string {
	var out []string
	for _, rule := range k.ignore {
		if rule.Target == nil || selects(rule.Target.Group, obj.GroupVersionKind().Group) &&
			selects(rule.Target.Version, obj.GroupVersionKind().Version) && selects(rule.Target.Kind, obj.GetKind()) &&
			selects(rule.Target.Name, obj.GetName()) && selects(rule.Target.Namespace, obj.GetNamespace()) &&
			matches(rule.Target.LabelSelector, obj.GetLabels()) && matches(rule.Target.AnnotationSelector, obj.GetAnnotations()) {
			out = append(out, rule.Paths...)
		}
	}
	return out
}

// selects reports whether pattern, a regular expression of the whole
// value as Flux's selectors take it, matches s; an empty pattern matches
// everything.
func selects(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(s)
}

// matches reports whether a label selector matches set; an empty one
// matches everything.
func matches(selector string, set map[string]string) bool {
	if selector == "" {
		return true
	}
	sel, err := labels.Parse(selector)
	return err == nil && sel.Matches(labels.Set(set))
}

// cluster is one cluster's API, as a dry-run uses it.
type cluster struct {
	mapper meta.RESTMapper
	dyn    dynamic.Interface
	owner  func(appliedObject) kustomization
	// creating holds the namespaces this dry-run creates.
	creating map[string]bool
}

// dryRunCluster dry-runs objs against one cluster, within opts' bounds.
func dryRunCluster(ctx context.Context, cfg *rest.Config, name string, objs []appliedObject, owner func(appliedObject) kustomization, opts DryRunOptions) DryRun {
	out := DryRun{Cluster: name}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		out.Note = fmt.Sprintf("not dry-run: %v", err)
		return out
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		out.Note = fmt.Sprintf("not dry-run: %v", err)
		return out
	}
	groups, err := restmapper.GetAPIGroupResourcesWithContext(ctx, dc)
	if err != nil {
		out.Note = unreachable(ctx, len(objs), opts.Timeout, err)
		return out
	}
	c := &cluster{mapper: restmapper.NewDiscoveryRESTMapper(groups), dyn: dyn, owner: owner, creating: map[string]bool{}}
	for i, o := range objs {
		if i == opts.MaxObjects {
			out.Note = fmt.Sprintf("%s not dry-run: a cluster's dry-run stops after %s", english.Plural(len(objs)-i, "object"), english.Plural(opts.MaxObjects, "object"))
			break
		}
		res, err := c.dryRun(ctx, o)
		res.Message = hideValues(res.Message, o)
		if err != nil {
			out.Note = unreachable(ctx, len(objs)-i, opts.Timeout, err)
			break
		}
		out.Objects = append(out.Objects, res)
	}
	return out
}

// unreachable is the note of a cluster that did not answer, with left
// objects not dry-run.
func unreachable(ctx context.Context, left int, timeout time.Duration, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("stopped after %s: %s not dry-run", timeout, english.Plural(left, "object"))
	}
	return fmt.Sprintf("cluster unreachable, %s not dry-run: %v", english.Plural(left, "object"), err)
}

// dryRun dry-runs one object. Its error means the cluster did not answer;
// an answer, a refusal included, is in the result.
func (c *cluster) dryRun(ctx context.Context, o appliedObject) (DryRunObject, error) {
	res := DryRunObject{ObjectID: o.id}
	res.NodeID, _ = lookup(o.values, "metadata", "annotations", workflow.AnnotationNodeID).(string)
	desired, err := unstructuredOf(o.raw)
	if err != nil {
		res.Outcome, res.Message = Refused, err.Error()
		return res, nil
	}
	k := c.owner(o)
	l := desired.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[fluxOwnerName], l[fluxOwnerNamespace] = k.name, k.namespace
	desired.SetLabels(l)
	if inMetadata(desired, fluxReconcile, kustomizev1.DisabledValue) || inMetadata(desired, fluxSSA, kustomizev1.IgnoreValue) {
		res.Outcome, res.Message = Skipped, "Flux does not apply it (reconcile disabled or ssa Ignore)"
		return res, nil
	}
	gvk := desired.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		res.Outcome, res.Message = Refused, err.Error()
		return res, nil
	}
	if err != nil {
		return res, err
	}
	var ri dynamic.ResourceInterface = c.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = c.dyn.Resource(m.Resource).Namespace(desired.GetNamespace())
	}
	live, err := ri.Get(ctx, desired.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live, err = nil, nil
	}
	if err != nil {
		return answered(res, err)
	}
	if live != nil && inMetadata(desired, fluxSSA, kustomizev1.IfNotPresentValue) {
		res.Outcome, res.Message = Skipped, "Flux applies it only when it is absent (ssa IfNotPresent)"
		return res, nil
	}
	dry, err := ri.Apply(ctx, desired.GetName(), desired, metav1.ApplyOptions{FieldManager: fluxFieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	switch {
	case err != nil && live == nil && apierrors.IsNotFound(err) && c.creating[desired.GetNamespace()]:
		res.Outcome, res.Message = Created, "its namespace is created by this change, so the API server could not check it"
		return res, nil
	case err != nil && live != nil && immutable(err) && (k.force || inMetadata(desired, fluxForce, kustomizev1.EnabledValue) || inMetadata(live, fluxForce, kustomizev1.EnabledValue)):
		res.Outcome, res.Message = Recreated, apiMessage(err)
		return res, nil
	case err != nil:
		return answered(res, err)
	case live == nil:
		res.Outcome = Created
		if gvk.Group == "" && gvk.Kind == "Namespace" {
			c.creating[desired.GetName()] = true
		}
		return res, nil
	}
	if !sameWorkflow(live, desired) {
		res.Outcome = TakenOver
		return res, nil
	}
	res.Fields = liveChanges(live.Object, dry.Object, k.ignored(desired), gvk.Group == "" && gvk.Kind == "Secret")
	res.Outcome = Unchanged
	if len(res.Fields) > 0 {
		res.Outcome = Changed
	}
	return res, nil
}

// sameWorkflow reports whether live is an object Slipway applied for the
// workflow desired is rendered for: only then may its fields be quoted.
func sameWorkflow(live, desired *unstructured.Unstructured) bool {
	l, d := live.GetLabels(), desired.GetLabels()
	return l[workflow.LabelManagedBy] == workflow.ManagedBy && l[workflow.LabelPartOf] != "" && l[workflow.LabelPartOf] == d[workflow.LabelPartOf]
}

// answered turns an answer of the API server into the result: a refusal,
// or NotAllowed for credentials that may not make the call. An error
// that is no answer is returned.
func answered(res DryRunObject, err error) (DryRunObject, error) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return res, err
	}
	res.Outcome, res.Message = Refused, apiMessage(err)
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		res.Outcome = NotAllowed
	}
	return res, nil
}

// hideValues replaces in msg, an API server's answer about o, each of
// o's Secret values, as they are and base64-encoded or decoded, with
// workflow.Redacted: an answer may quote the value it refuses. A value
// too short to replace without garbling the answer withholds it whole.
func hideValues(msg string, o appliedObject) string {
	if msg == "" || o.id.Kind != "Secret" || o.id.APIVersion != "v1" {
		return msg
	}
	for _, field := range secretData {
		values, _ := o.values[field].(map[string]any)
		for _, v := range values {
			s := fmt.Sprint(v)
			forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
			if plain, err := base64.StdEncoding.DecodeString(s); err == nil {
				forms = append(forms, string(plain))
			}
			for _, f := range forms {
				switch {
				case f == "" || !strings.Contains(msg, f):
				case len(f) < minHidden:
					return "the API server's answer is withheld: it may quote a value of the Secret"
				default:
					msg = strings.ReplaceAll(msg, f, workflow.Redacted)
				}
			}
		}
	}
	return msg
}

// minHidden is the shortest Secret value hideValues replaces in a
// message; a shorter one found in it withholds the message.
const minHidden = 6

// maxMessage bounds a quoted message of the API server, in runes: a
// longer one keeps its start, which names the object and the field, and
// its end, which says what is wrong with it ("field is immutable").
const maxMessage = 1500

// apiMessage is the API server's message in err, on one line.
func apiMessage(err error) string {
	msg := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		msg = status.Status().Message
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > maxMessage {
		msg = string(r[:maxMessage*2/3]) + " … " + string(r[len(r)-maxMessage/3:])
	}
	return msg
}

// immutable reports whether an apply failed on a field that cannot
// change in place, as Flux decides before it recreates a forced object:
// any invalid or conflicting object, or a webhook's or CEL rule's
// "immutable".
func immutable(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsConflict(err) || strings.Contains(strings.ToLower(err.Error()), "immutable")
}

// inMetadata reports whether obj has the label or annotation key with
// value, in any case, as Flux compares them.
func inMetadata(obj *unstructured.Unstructured, key, value string) bool {
	return strings.EqualFold(obj.GetLabels()[key], value) || strings.EqualFold(obj.GetAnnotations()[key], value)
}

// unstructuredOf reads one object's YAML as the API server takes it.
func unstructuredOf(raw string) (*unstructured.Unstructured, error) {
	j, err := yaml.YAMLToJSON([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("read the object: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return nil, fmt.Errorf("read the object: %w", err)
	}
	return u, nil
}
