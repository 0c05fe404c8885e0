package workflow

// Workflow files in history are not validated: a commit may have put a
// password in one, and every view of a change (a pull-request comment, a
// comparison of versions, the status page) must not show it again. Diff
// and DiffFields redact what they return; Redact does the same for other
// values, such as the objects a review shows.

// Redacted stands for a secret value wherever a workflow, an object or a
// change to them is shown.
const Redacted = "[redacted]"

// Redact returns a copy of v, a JSON value as encoding/json decodes it,
// in which every scalar that is or may be a secret is Redacted: a value
// under a name that says it holds a credential (DB_PASSWORD), the value
// of an object named so ({"name": "DB_PASSWORD", "value": ...}), the data
// of a Secret, and any string that carries a secret itself (a private
// key, a URL with a password; see HoldsSecret). Objects and lists keep
// their shape.
func Redact(v any) any { return redactValue(v, shown) }

// scope is what a redaction knows of the place a value sits.
type scope uint8

const (
	// shown values are shown unless they carry a secret themselves.
	shown scope = iota
	// hidden values are secrets, every scalar of them.
	hidden
	// secretData is the data of a secret node: only its names are shown.
	secretData
	// secretKeys is a secret node's list of keys, of which only ids and
	// names are shown.
	secretKeys
	// keyReference is a reference to a key of a Secret or ConfigMap, whose
	// names are shown.
	keyReference
)

// nodeScope is the scope of the data of a node: that of a secret when
// either version of the node is a secret (a node may change its type) or
// renders one.
func nodeScope(nodes ...*GraphNode) scope {
	for _, n := range nodes {
		if n != nil && (n.Type == KindSecret || n.Data["kind"] == "Secret") {
			return secretData
		}
	}
	return shown
}

// member returns the scope of the member key of an object in scope s.
// objs are the versions of the object (one, or both sides of a change),
// and a member is secret when any version says so.
func (s scope) member(key string, objs ...map[string]any) scope {
	switch s {
	case hidden:
		return hidden
	case secretData:
		switch key {
		case "name", "namespace", "secretType", "mountPath":
			return shown
		case "keys":
			return secretKeys
		}
		return hidden
	case secretKeys:
		if key == "id" || key == "name" {
			return shown
		}
		return hidden
	case keyReference:
		switch key {
		case "name", "key", "optional":
			return shown
		case "secretKeyRef", "configMapKeyRef":
			return keyReference
		}
		return hidden
	}
	if key == "stringData" || LooksLikeCredential(key) {
		return hidden
	}
	for _, o := range objs {
		if key == "data" && o["kind"] == "Secret" {
			return hidden
		}
		if name, _ := o["name"].(string); LooksLikeCredential(name) {
			switch key {
			case "id", "name":
				return shown
			case "valueFrom", "secretKeyRef", "configMapKeyRef":
				return keyReference
			}
			return hidden
		}
	}
	return shown
}

// redactValue returns a copy of v, which sits in scope s, with its
// secrets Redacted.
func redactValue(v any, s scope) any {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = redactValue(x, s.member(k, v))
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactValue(x, s)
		}
		return out
	case string:
		if s == shown && HoldsSecret(v) == "" {
			return v
		}
		return Redacted
	}
	if s == shown {
		return v
	}
	return Redacted
}
