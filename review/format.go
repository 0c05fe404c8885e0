package review

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/slipway-gitops/slipway/internal/english"
	"github.com/slipway-gitops/slipway/workflow"
)

// MarkdownBudget is the size GitHub comfortably shows in a pull-request
// comment; Markdown output stops before it, at an object boundary.
const MarkdownBudget = 60 << 10

// maxTableRows bounds the summary table of the Markdown output.
const maxTableRows = 50

// WriteJSON writes the review as indented JSON.
func (r *Review) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// headline is the one-line summary both text and Markdown start with.
func (r *Review) headline() string {
	if len(r.Problems) > 0 {
		return fmt.Sprintf("%s does not validate: %d problems", r.Head, len(r.Problems))
	}
	s := r.Summary
	if len(r.Workflows) == 0 {
		return "no changes to the deploy branch"
	}
	return fmt.Sprintf("%s changed: %s added, %d removed, %d modified", english.Plural(s.Workflows, "workflow"), english.Plural(s.ObjectsAdded, "object"), s.ObjectsRemoved, s.ObjectsModified)
}

// WriteText writes the review for a terminal: the summary, then each
// workflow's graph changes and manifest diffs.
func (r *Review) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s..%s: %s\n", r.Base, r.Head, r.headline())
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if len(r.Consequences) > 0 {
		b.WriteString("\nWhat merging does:\n")
		for _, c := range r.Consequences {
			fmt.Fprintf(&b, "  %s [%s]\n", c.Message, c.Kind)
		}
	}
	writeDryRunsText(&b, r.DryRuns)
	for _, wr := range r.Workflows {
		fmt.Fprintf(&b, "\n== %s (%s)\n", wr.Name, wr.Change)
		for _, l := range append(fieldLines(wr.Fields), GraphLines(wr.Graph)...) {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		for _, o := range wr.Objects {
			fmt.Fprintf(&b, "%s %s%s\n", o.Change, o.ObjectID, keptNote(o))
			for _, f := range o.Fields {
				fmt.Fprintf(&b, "  %s\n", f)
			}
			b.WriteString(o.Diff)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the review for a pull-request comment, stopping at
// an object boundary before budget bytes with a line that says how many
// objects it left out.
func (r *Review) WriteMarkdown(w io.Writer, budget int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Slipway: %s\n\n`%s` → `%s`\n", r.headline(), r.Base, r.Head)
	if len(r.Problems) > 0 {
		b.WriteString("\n```\n")
		for _, p := range r.Problems {
			b.WriteString(p.Error() + "\n")
		}
		b.WriteString("```\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if len(r.Consequences) > 0 {
		b.WriteString("\n#### What merging does\n\n")
		writeAtMost(len(r.Consequences), maxTableRows, func(i int) {
			c := r.Consequences[i]
			fmt.Fprintf(&b, "- %s (%s)\n", c.Message, code(string(c.Kind)))
		}, func(left int) { fmt.Fprintf(&b, "- …and %d more: run `compiler diff` for all of them\n", left) })
	}
	writeDryRunsMarkdown(&b, r.DryRuns)
	if len(r.Workflows) > 0 {
		b.WriteString("\n| workflow | change | nodes (+ − ~ moved) | edges (+ − ~) | objects (+ − ~) |\n|---|---|---|---|---|\n")
		writeAtMost(len(r.Workflows), maxTableRows, func(i int) {
			wr := r.Workflows[i]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", wr.Name, wr.Change, nodeCounts(wr.Graph), edgeCounts(wr.Graph), objectCounts(wr.Objects))
		}, func(left int) { fmt.Fprintf(&b, "| … %d more | | | | |\n", left) })
	}
	total, shown := 0, 0
	for _, wr := range r.Workflows {
		total += len(wr.Objects)
	}
	full := false
	for _, wr := range r.Workflows {
		if full {
			break
		}
		var section strings.Builder
		fmt.Fprintf(&section, "\n#### %s (%s)\n", wr.Name, wr.Change)
		for _, l := range append(fieldLines(wr.Fields), GraphLines(wr.Graph)...) {
			fmt.Fprintf(&section, "- %s\n", l)
		}
		if b.Len()+section.Len() > budget-tailRoom {
			break
		}
		b.WriteString(section.String())
		for _, o := range wr.Objects {
			block := markdownObject(o)
			if b.Len()+len(block) > budget-tailRoom {
				full = true
				break
			}
			b.WriteString(block)
			shown++
		}
	}
	if shown < total {
		fmt.Fprintf(&b, "\n_…and %d more objects changed, not shown: this comment stops at %d KB. Run `compiler diff` for all of them._\n", total-shown, budget>>10)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// maxFieldLines bounds the changed fields listed for one object.
const maxFieldLines = 20

// markdownObject shows one object: its changed fields, then its diff
// folded away.
func markdownObject(o ObjectReview) string {
	if o.Change == Removed {
		return fmt.Sprintf("- %s removed%s\n", code(o.ObjectID.String()), keptNote(o))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n**%s** (%s)\n", code(o.ObjectID.String()), o.Change)
	if len(o.Fields) > 0 {
		b.WriteString("\n")
	}
	writeAtMost(len(o.Fields), maxFieldLines, func(i int) { fmt.Fprintf(&b, "- %s\n", code(o.Fields[i].String())) },
		func(left int) { fmt.Fprintf(&b, "- …and %d more fields\n", left) })
	fmt.Fprintf(&b, "\n<details><summary>diff</summary>\n\n```diff\n%s```\n</details>\n", o.Diff)
	return b.String()
}

// keptNote says of a removed object that Flux will not delete it.
func keptNote(o ObjectReview) string {
	if o.Kept {
		return " from the tree; kept in the cluster (prune disabled)"
	}
	return ""
}

// writeAtMost calls line for the first limit of n items, then more with
// the number of items left out, if any.
func writeAtMost(n, limit int, line func(i int), more func(left int)) {
	for i := range min(n, limit) {
		line(i)
	}
	if n > limit {
		more(n - limit)
	}
}

// code formats s as inline code, whatever backticks it holds.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// tailRoom keeps space for the closing line of truncated output.
const tailRoom = 256

func nodeCounts(d *workflow.GraphDiff) string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("+%d −%d ~%d %d", len(d.AddedNodes), len(d.RemovedNodes), len(d.ModifiedNodes), len(d.MovedNodes))
}

func edgeCounts(d *workflow.GraphDiff) string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("+%d −%d ~%d", len(d.AddedEdges), len(d.RemovedEdges), len(d.ModifiedEdges))
}

func objectCounts(objs []ObjectReview) string {
	n := map[Change]int{}
	for _, o := range objs {
		n[o.Change]++
	}
	return fmt.Sprintf("+%d −%d ~%d", n[Added], n[Removed], n[Modified])
}

// GraphLines describes a graph diff for people, one change a line.
func GraphLines(d *workflow.GraphDiff) []string {
	if d == nil {
		return nil
	}
	var out []string
	node := func(verb string, n workflow.NodeDiff) string {
		return fmt.Sprintf("%s node %s (%s %q)", verb, n.NodeID, n.Type, n.Name)
	}
	for _, n := range d.AddedNodes {
		out = append(out, node("added", n))
	}
	for _, n := range d.RemovedNodes {
		out = append(out, node("removed", n))
	}
	for _, n := range d.ModifiedNodes {
		ch := changeLines(n.Changes, "")
		if n.NewPosition != nil {
			ch = append(ch, "moved")
		}
		out = append(out, node("modified", n)+": "+strings.Join(ch, "; "))
	}
	for _, n := range d.MovedNodes {
		out = append(out, node("moved", n))
	}
	edge := func(verb string, e workflow.EdgeDiff) string {
		return fmt.Sprintf("%s edge %s (%s → %s)", verb, e.EdgeID, e.Source, e.Target)
	}
	for _, e := range d.AddedEdges {
		out = append(out, edge("added", e))
	}
	for _, e := range d.RemovedEdges {
		out = append(out, edge("removed", e))
	}
	for _, e := range d.ModifiedEdges {
		out = append(out, edge("modified", e)+": "+strings.Join(changeLines(e.Changes, ""), "; "))
	}
	return out
}

// fieldLines describes changed top-level fields, one a line.
func fieldLines(changes []workflow.Change) []string { return changeLines(changes, "/") }

// changeLines describes changes as "path: old → new", paths without the
// prefix trim.
func changeLines(changes []workflow.Change, trim string) []string {
	var out []string
	for _, c := range changes {
		out = append(out, fmt.Sprintf("%s: %s → %s", strings.TrimPrefix(c.Path, trim), value(c.Old), value(c.New)))
	}
	return out
}

// value shows a changed value compactly.
func value(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if s := string(b); len(s) <= 80 {
		return s
	} else {
		return s[:77] + "…"
	}
}
