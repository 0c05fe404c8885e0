package compose

import (
	"strconv"
	"strings"
)

// maxName is the longest name every node kind accepts (a CronJob's).
const maxName = 52

// normalize makes s a DNS-1123 label that also starts with a letter, as
// Service names must: lower case, runs of other characters become one
// hyphen.
func normalize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		out = "unnamed"
	}
	if out[0] >= '0' && out[0] <= '9' {
		out = "s-" + out
	}
	if len(out) > maxName {
		out = strings.TrimRight(out[:maxName], "-")
	}
	return out
}

// namer hands out unique normalized names per kind of node.
type namer struct {
	used map[string]map[string]bool
}

func newNamer() *namer { return &namer{used: map[string]map[string]bool{}} }

// name returns the normalized name of s for a kind, with a numeric suffix
// when another s of that kind normalized to the same name.
func (n *namer) name(kind, s string) string {
	if n.used[kind] == nil {
		n.used[kind] = map[string]bool{}
	}
	base := normalize(s)
	out := base
	for i := 2; n.used[kind][out]; i++ {
		out = strings.TrimRight(base[:min(len(base), maxName-4)], "-") + "-" + strconv.Itoa(i)
	}
	n.used[kind][out] = true
	return out
}
