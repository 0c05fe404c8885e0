package workflow

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
)

// Secret values never live in git. These checks catch the common ways one
// slips into a workflow file; messages never echo the value.

// secretName matches variable and key names that hold credentials:
// a word of the name is one (DB_PASS, API_TOKEN), ends in one
// (PGPASSWORD) or is one with a number (ADMIN_PASSWORD2). Like
// secretNameExempt it compiles on first use, not when a program that
// links the package starts.
var secretName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(^|[_.-])([a-z0-9]*pass(word|wd|phrase)|pass|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?|access[_-]?key)[0-9]*($|[_.-])`)
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
	nv.noCredential(ptr, name, value, "reference a secret node key with envKeys[].secretKeyRef")
}

// noCredential rejects a literal value under a credential's name, saying
// what to do instead, and any value that carries a secret.
func (nv *nodeValidator) noCredential(ptr, name, value, instead string) {
	if value != "" && LooksLikeCredential(name) {
		nv.add(ptr, "%q looks like a credential; secret values must not be stored in git: %s", name, instead)
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
// with a password"), or returns "" when it carries none that shows. It
// reads the forms secrets take in configuration by their own syntax: PEM
// (RFC 7468) and OpenPGP (RFC 4880) private-key armor, the password of a
// URL's user information (RFC 3986), a password property of a connection
// string (JDBC, libpq, ADO.NET, ODBC), the password of a Go MySQL DSN
// (user:password@tcp(host)/db) and a bearer token (RFC 6750). A value
// that only refers to a secret ($DB_PASSWORD, ${DB_PASSWORD} or
// $(DB_PASSWORD), expanded where it runs) carries none.
func HoldsSecret(value string) string {
	p := valuePatterns()
	switch {
	case p.privateKey.MatchString(value):
		return "a private key"
	case urlPassword(value):
		return "a URL with a password"
	case anySecret(p.property, value):
		return "a password in a connection string"
	case anySecret(p.mysqlDSN, value):
		return "a MySQL DSN with a password"
	case anySecret(p.bearer, value):
		return "a bearer token"
	}
	return ""
}

// valuePatterns are the syntaxes HoldsSecret reads; they compile on first
// use, not when a program that links the package starts.
var valuePatterns = sync.OnceValue(func() struct{ privateKey, property, mysqlDSN, bearer *regexp.Regexp } {
	return struct{ privateKey, property, mysqlDSN, bearer *regexp.Regexp }{
		// -----BEGIN RSA PRIVATE KEY-----, -----BEGIN ENCRYPTED PRIVATE
		// KEY-----, -----BEGIN PGP PRIVATE KEY BLOCK-----.
		privateKey: regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`),
		// password=..., Pwd=...; in a query (?&), a list (;) or libpq's
		// space-separated keywords. Group 1 is the value.
		property: regexp.MustCompile(`(?i)(?:^|[?&;\s])(?:password|passwd|pwd|pass)\s*=\s*([^\s&;]+)`),
		mysqlDSN: regexp.MustCompile(`(?:^|[\s=])[^\s:@/=]*:([^\s@/]+)@(?:tcp|udp|unix)\(`),
		bearer:   regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)`),
	}
})

// anySecret reports whether re, whose first group is a secret, matches
// value with a secret that is not a reference.
func anySecret(re *regexp.Regexp, value string) bool {
	for _, m := range re.FindAllStringSubmatch(value, -1) {
		if isSecretText(m[1]) {
			return true
		}
	}
	return false
}

// isSecretText reports whether s, found where a secret goes, is one
// rather than a reference to one ($VAR, ${VAR}, $(VAR)) or nothing.
func isSecretText(s string) bool {
	s = strings.Trim(s, `'"`)
	return s != "" && !strings.HasPrefix(s, "$")
}

// urlPassword reports whether a URL in value has a password in its user
// information (scheme://user:password@host). It reads the authority
// itself, as url.Parse refuses what clients still accept: a password with
// a bad escape (Sup3r%X) or an unescaped "/", a host like tcp(db:3306).
func urlPassword(value string) bool {
	for rest := value; ; {
		i := strings.Index(rest, "://")
		if i < 0 {
			return false
		}
		rest = rest[i+len("://"):]
		end := strings.IndexFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || r == '?' || r == '#' })
		if end < 0 {
			end = len(rest)
		}
		at := strings.LastIndexByte(rest[:end], '@')
		if at < 0 {
			continue
		}
		_, password, ok := strings.Cut(rest[:at], ":")
		if !ok || !isSecretText(password) {
			continue
		}
		// host:8080/@me is a port and a path, not a password.
		if port, _, path := strings.Cut(password, "/"); path && port != "" && strings.Trim(port, "0123456789") == "" {
			continue
		}
		return true
	}
}
