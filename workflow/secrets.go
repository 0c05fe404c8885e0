package workflow

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Secret values never live in git. These checks catch the common ways one
// slips into a workflow file; messages never echo the value.

// secretName matches variable and key names that hold credentials. Like
// secretNameExempt it compiles on first use, not when a program that
// links the package starts.
var secretName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(^|[_.-])(password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?|access[_-]?key)($|[_.-])`)
})

// secretNameExempt matches names whose values point at a secret rather than
// hold one (MYSQL_PASSWORD_FILE=/run/secrets/db).
var secretNameExempt = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)[_.-](file|path|dir|ref|name|length|min|max|url)$`)
})

// LooksLikeCredential reports whether a variable or key name says that it
// holds a credential (DB_PASSWORD, API_TOKEN) rather than points at one
// (DB_PASSWORD_FILE).
func LooksLikeCredential(name string) bool {
	return secretName().MatchString(name) && !secretNameExempt().MatchString(name)
}

// noSecretEnv rejects a literal environment value that is a credential.
func (nv *nodeValidator) noSecretEnv(ptr, name, value string) {
	if value != "" && LooksLikeCredential(name) {
		nv.add(ptr, "%q looks like a credential; secret values must not be stored in git: reference a secret node key with envKeys[].secretKeyRef", name)
		return
	}
	nv.noSecretValue(ptr, nv.node.ID, name, value)
}

// noSecretValue rejects values that carry key material or a password in a URL.
func (v *validator) noSecretValue(ptr, nodeID, name, value string) {
	if what := HoldsSecret(value); what != "" {
		v.c.add(ptr, nodeID, "%q holds %s; secret values must not be stored in git", name, what)
	}
}

// HoldsSecret says what secret a value carries ("a private key", "a URL
// with a password"), or returns "" when it carries none that shows.
func HoldsSecret(value string) string {
	if strings.Contains(value, "PRIVATE KEY-----") {
		return "a private key"
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
			return "a URL with a password"
		}
	}
	return ""
}
