package kubeorch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Author is the author of a commit.
type Author struct {
	Name  string
	Email string
}

// String formats a as git does: Name <email>.
func (a Author) String() string { return a.Name + " <" + a.Email + ">" }

// NoReplyDomain is the domain of the addresses given to KubeOrch users an
// authors file does not name: <user id>@kubeorch.invalid. The .invalid
// top-level domain is reserved (RFC 2606) and never resolves, so that no
// mail sent to one is delivered to anyone.
const NoReplyDomain = "kubeorch.invalid"

// Authors maps KubeOrch user ids, as created_by holds them, to commit
// authors.
type Authors map[string]Author

// ParseAuthors reads an authors file, as git svn's --authors-file: one
// line per user, "user-id = Name <email>"; blank lines and lines starting
// with # are left out. Problems name the file and line.
func ParseAuthors(file string, data []byte) (Authors, error) {
	out := Authors{}
	lineOf := map[string]int{}
	var errs []error
	fail := func(n int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, n, fmt.Sprintf(format, args...)))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, who, ok := strings.Cut(line, "=")
		id, who = strings.TrimSpace(id), strings.TrimSpace(who)
		name, email, okEmail := strings.Cut(who, "<")
		name, email = strings.TrimSpace(name), strings.TrimSuffix(email, ">")
		switch {
		case !ok || id == "":
			fail(n, "want a line such as `6750a0ffe4b0a3f1d2c3b400 = Ada Lovelace <ada@example.com>`, not %q", line)
		case !okEmail || !strings.HasSuffix(who, ">") || name == "" || email == "":
			fail(n, "%s: want the author as `Name <email>`, not %q", id, who)
		case strings.ContainsAny(name, "<>") || strings.ContainsAny(email, "<> ") || strings.ContainsFunc(who, unicode.IsControl):
			fail(n, "%s: the name and the email must not hold <, >, control characters or, in the email, spaces: %q", id, who)
		case lineOf[id] > 0:
			fail(n, "%s is given twice (also on line %d)", id, lineOf[id])
		default:
			lineOf[id] = n
			out[id] = Author{Name: name, Email: email}
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", file, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// author returns the commit author of KubeOrch user id and whether the
// authors file names it; one it does not is named by its id, with an
// address at NoReplyDomain.
func (a Authors) author(id string) (Author, bool) {
	if au, ok := a[id]; ok {
		return au, true
	}
	local := strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, id)
	name := oneLine(strings.NewReplacer("<", "", ">", "").Replace(id))
	if name == "" {
		name = local
	}
	return Author{Name: name, Email: local + "@" + NoReplyDomain}, false
}
