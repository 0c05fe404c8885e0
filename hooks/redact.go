package hooks

import (
	"strings"

	"github.com/slipway-gitops/slipway/workflow"
)

// redacted replaces a secret value in what the API shows.
const redacted = "[redacted]"

// redactDiff hides the secret values of a comparison of two workflow
// versions, in place. Versions come from history and are not validated:
// a commit may have put a password in a workflow file, and the API, which
// needs no token to read, must not show it again. It uses the workflow
// package's secret detection: values under names that say they hold a
// credential, values that carry one (a private key, a URL with a
// password), and every value of a secret node but its names.
func redactDiff(d *workflow.GraphDiff) {
	for _, nodes := range [][]workflow.NodeDiff{d.AddedNodes, d.RemovedNodes, d.ModifiedNodes, d.MovedNodes} {
		for i := range nodes {
			redactChanges(nodes[i].Changes, nodes[i].Type == workflow.KindSecret)
		}
	}
	for _, edges := range [][]workflow.EdgeDiff{d.AddedEdges, d.RemovedEdges, d.ModifiedEdges} {
		for i := range edges {
			redactChanges(edges[i].Changes, false)
		}
	}
}

// redactChanges redacts the old and new values of changes, each under the
// last name of its path.
func redactChanges(changes []workflow.Change, secretNode bool) {
	for i, c := range changes {
		name := pointerToken(c.Path[strings.LastIndex(c.Path, "/")+1:])
		changes[i].Old = redact(name, c.Old, secretNode)
		changes[i].New = redact(name, c.New, secretNode)
	}
}

// redact returns v, a JSON value found under name, with its secret values
// replaced. Objects are walked member by member; an object that names a
// credential ({"name": "DB_PASSWORD", "value": ...}) has its value
// redacted. In a secret node (secretNode), every string but an id, name
// or type is redacted.
func redact(name string, v any, secretNode bool) any {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		out := make(map[string]any, len(v))
		named, _ := v["name"].(string)
		for k, x := range v {
			if k == "value" && workflow.LooksLikeCredential(named) {
				out[k] = redacted
				continue
			}
			out[k] = redact(k, x, secretNode)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redact(name, x, secretNode)
		}
		return out
	case string:
		if workflow.HoldsSecret(v) != "" || (secretNode && !secretNodeField(name)) {
			return redacted
		}
	}
	if workflow.LooksLikeCredential(name) {
		return redacted
	}
	return v
}

// secretNodeField reports whether a member of a secret node's data holds
// a name or setting rather than a value.
func secretNodeField(name string) bool {
	switch name {
	case "id", "name", "secretType", "mountPath", "namespace":
		return true
	}
	return false
}

// pointerToken unescapes one JSON pointer token.
func pointerToken(s string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
}
