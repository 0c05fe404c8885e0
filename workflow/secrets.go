package workflow

import (
	"net/url"
	"regexp"
	"strings"
)

// Secret values never live in git. These checks catch the common ways one
// slips into a workflow file; messages never echo the value.

// secretName matches variable and key names that hold credentials.
var secretName = regexp.MustCompile(`(?i)(^|[_.-])(password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?|access[_-]?key)($|[_.-])`)

// secretNameExempt matches names whose values point at a secret rather than
// hold one (MYSQL_PASSWORD_FILE=/run/secrets/db).
var secretNameExempt = regexp.MustCompile(`(?i)[_.-](file|path|dir|ref|name|length|min|max|url)$`)

// noSecretEnv rejects a literal environment value that is a credential.
func (nv *nodeValidator) noSecretEnv(ptr, name, value string) {
	if value != "" && secretName.MatchString(name) && !secretNameExempt.MatchString(name) {
		nv.add(ptr, "%q looks like a credential; secret values must not be stored in git: reference a secret node key with envKeys[].secretKeyRef", name)
		return
	}
	nv.noSecretValue(ptr, nv.node.ID, name, value)
}

// noSecretValue rejects values that carry key material or a password in a URL.
func (v *validator) noSecretValue(ptr, nodeID, name, value string) {
	if strings.Contains(value, "PRIVATE KEY-----") {
		v.c.add(ptr, nodeID, "%q holds a private key; secret values must not be stored in git", name)
		return
	}
	for _, tok := range strings.Fields(value) {
		if !strings.Contains(tok, "://") {
			continue
		}
		u, err := url.Parse(tok)
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok && p != "" && !strings.HasPrefix(p, "$") {
			v.c.add(ptr, nodeID, "%q holds a URL with a password; secret values must not be stored in git", name)
			return
		}
	}
}
