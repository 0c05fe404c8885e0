package review

import (
	"fmt"
	"strings"
)

// dryRunHeading heads the dry-run section of the Markdown output.
const dryRunHeading = "#### Dry-run against the clusters"

// writeDryRunsMarkdown writes the dry-run of each cluster: its counts,
// its note, then each object that does not stay as it is, with the API
// server's message or the fields that change.
func writeDryRunsMarkdown(b *strings.Builder, dryRuns []DryRun) {
	if len(dryRuns) == 0 {
		return
	}
	b.WriteString("\n" + dryRunHeading + "\n")
	for _, d := range dryRuns {
		line, note := d.summary()
		fmt.Fprintf(b, "\n**%s**: %s\n", d.Cluster, line)
		if note != "" {
			fmt.Fprintf(b, "\n_%s_\n", note)
		}
		shown := shownDryRuns(d.Objects)
		if len(shown) > 0 {
			b.WriteString("\n")
		}
		writeAtMost(len(shown), maxTableRows, func(i int) {
			o := shown[i]
			fmt.Fprintf(b, "- %s\n", o.headline(code))
			if m := o.detail(); m != "" {
				fmt.Fprintf(b, "  - %s\n", code(m))
			}
			writeAtMost(len(o.Fields), maxFieldLines, func(i int) { fmt.Fprintf(b, "  - %s\n", code(o.Fields[i].String())) },
				func(left int) { fmt.Fprintf(b, "  - …and %d more fields\n", left) })
		}, func(left int) { fmt.Fprintf(b, "- …and %d more objects\n", left) })
	}
}

// writeDryRunsText writes the dry-runs for a terminal.
func writeDryRunsText(b *strings.Builder, dryRuns []DryRun) {
	if len(dryRuns) == 0 {
		return
	}
	b.WriteString("\nDry-run against the clusters:\n")
	for _, d := range dryRuns {
		line, note := d.summary()
		fmt.Fprintf(b, "  %s: %s\n", d.Cluster, line)
		if note != "" {
			fmt.Fprintf(b, "    %s\n", note)
		}
		for _, o := range shownDryRuns(d.Objects) {
			fmt.Fprintf(b, "    %s\n", o.headline(func(s string) string { return s }))
			if m := o.detail(); m != "" {
				fmt.Fprintf(b, "      %s\n", m)
			}
			for _, f := range o.Fields {
				fmt.Fprintf(b, "      %s\n", f)
			}
		}
	}
}

// summary is what a cluster's line says, and the note shown under it: a
// cluster without objects that has a note is said by the note alone.
func (d DryRun) summary() (line, note string) {
	if len(d.Objects) == 0 && d.Note != "" {
		return d.Note, ""
	}
	return d.describe(), d.Note
}

// detail is the API server's message on the object, unless its headline
// quotes it already; "" when there is none.
func (o DryRunObject) detail() string {
	if o.Outcome == NotAllowed {
		return ""
	}
	return o.Message
}

// shownDryRuns leaves out the objects that stay as they are.
func shownDryRuns(objs []DryRunObject) []DryRunObject {
	var out []DryRunObject
	for _, o := range objs {
		if o.Outcome != Unchanged {
			out = append(out, o)
		}
	}
	return out
}

// headline says what happens to the object: "prod StatefulSet shop/db
// (node db): refused by the API server — …", quoting names with quote.
func (o DryRunObject) headline(quote func(string) string) string {
	s := quote(o.ObjectID.String())
	if o.NodeID != "" {
		s += " (node " + quote(o.NodeID) + ")"
	}
	switch o.Outcome {
	case Refused:
		return s + ": refused by the API server — Flux's apply fails the same way and stops applying its Kustomization"
	case Recreated:
		return s + ": a field cannot change in place — Flux deletes the object and creates it again (force)"
	case NotAllowed:
		return s + ": dry-run not allowed: " + quote(o.Message)
	case Changed:
		return s + ": changes"
	case TakenOver:
		return s + ": exists and is not the workflow's — Flux takes it over; its live fields are not shown"
	}
	return s + ": " + string(o.Outcome)
}
