package review

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// contextLines is how many unchanged lines surround each hunk.
const contextLines = 3

// line is one line of a diff.
type line struct {
	op   diffmatchpatch.Operation
	text string
}

// unified returns a unified diff of two versions of a file, as diff -u
// prints it.
func unified(name, a, b string) string {
	dmp := diffmatchpatch.New()
	ca, cb, table := dmp.DiffLinesToChars(a, b)
	var all []line
	for _, d := range dmp.DiffCharsToLines(dmp.DiffMain(ca, cb, false), table) {
		for _, l := range strings.SplitAfter(d.Text, "\n") {
			if l != "" {
				all = append(all, line{d.Type, strings.TrimSuffix(l, "\n")})
			}
		}
	}
	// aBefore[i] and bBefore[i] count the lines of a and b before all[i].
	aBefore, bBefore := make([]int, len(all)+1), make([]int, len(all)+1)
	for i, l := range all {
		aBefore[i+1], bBefore[i+1] = aBefore[i], bBefore[i]
		if l.op != diffmatchpatch.DiffInsert {
			aBefore[i+1]++
		}
		if l.op != diffmatchpatch.DiffDelete {
			bBefore[i+1]++
		}
	}
	var out strings.Builder
	from, to := "a/"+name, "b/"+name
	if a == "" {
		from = "/dev/null"
	}
	if b == "" {
		to = "/dev/null"
	}
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	for _, h := range hunks(all) {
		fmt.Fprintf(&out, "@@ -%s +%s @@\n",
			hunkRange(aBefore[h[0]], aBefore[h[1]]-aBefore[h[0]]),
			hunkRange(bBefore[h[0]], bBefore[h[1]]-bBefore[h[0]]))
		for _, l := range all[h[0]:h[1]] {
			out.WriteString(map[diffmatchpatch.Operation]string{
				diffmatchpatch.DiffEqual: " ", diffmatchpatch.DiffDelete: "-", diffmatchpatch.DiffInsert: "+",
			}[l.op] + l.text + "\n")
		}
	}
	return out.String()
}

// hunks returns the [start, end) ranges of lines to print: each change
// with contextLines around it, ranges that touch merged.
func hunks(all []line) [][2]int {
	var out [][2]int
	for i, l := range all {
		if l.op == diffmatchpatch.DiffEqual {
			continue
		}
		start, end := max(i-contextLines, 0), min(i+contextLines+1, len(all))
		if n := len(out); n > 0 && start <= out[n-1][1] {
			out[n-1][1] = end
			continue
		}
		out = append(out, [2]int{start, end})
	}
	return out
}

// hunkRange formats a hunk's line range; before counts the lines before it.
func hunkRange(before, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprint(before + 1)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}
