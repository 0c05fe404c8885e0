package gitrepo

import "strings"

// redactedSecret stands for a hidden credential, as url.URL.Redacted
// writes it.
const redactedSecret = "xxxxx"

// RedactCredentials returns s, a URL or a text that names URLs (a log
// line, an error), with the credentials of every URL in it hidden: the
// password of user:password@host, as url.URL.Redacted hides it, and the
// user of an http(s) URL that has no password, which GitHub and other
// hosts take as a token (https://TOKEN@host/repo.git). Every URL the
// service prints or returns goes through it.
//
// It works on the text rather than on a parsed URL because it must hold
// for what cannot be parsed (a password with a stray %), and for URLs
// inside the messages of go-git and net/http, which hide a password but
// not a token in the user's place.
func RedactCredentials(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		scheme := s[strings.LastIndexFunc(s[:i], notSchemeRune)+1 : i]
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/?#\"'` \t\r\n")
		if end < 0 {
			end = len(s)
		}
		if at := strings.LastIndexByte(s[:end], '@'); at >= 0 {
			b.WriteString(redactUserinfo(scheme, s[:at]))
			s = s[at:]
		}
	}
}

// redactUserinfo hides the credentials of the userinfo of a URL of scheme.
func redactUserinfo(scheme, userinfo string) string {
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return user + ":" + redactedSecret
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return redactedSecret
	}
	return userinfo
}

// notSchemeRune reports whether r cannot be part of a URL scheme.
func notSchemeRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.')
}

// redactedError is an error whose text hides the credentials of the URLs
// it names; errors.Is and errors.As see the error it wraps.
type redactedError struct{ err error }

func (e *redactedError) Error() string { return RedactCredentials(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// remoteError wraps an error of talking to a remote (whose text names its
// URL, in gitrepo's words and in go-git's) so that its text hides the
// URL's credentials.
func remoteError(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err}
}
