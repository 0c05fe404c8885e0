package kubeorch

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// Status is what an import did with a field.
type Status string

// Statuses of a field.
const (
	// Mapped fields mean the same in the workflow file.
	Mapped Status = "mapped"
	// Approximated fields are kept with a different meaning or form, as
	// the entry's detail says.
	Approximated Status = "approximated"
	// Dropped fields have no place in a workflow repository.
	Dropped Status = "dropped"
)

// Entry is one field of an input document.
type Entry struct {
	// Workflow is the name of the workflow file the field went into.
	Workflow string `json:"workflow"`
	// File and Pointer locate the field in the input.
	File    string `json:"file"`
	Pointer string `json:"pointer"`
	Status  Status `json:"status"`
	// Detail says how the field was mapped, or why it was dropped.
	Detail string `json:"detail"`
}

// Report lists every field an import met, in input order, and what
// changes when a cluster adopts the objects KubeOrch deployed.
type Report struct {
	Entries []Entry `json:"entries"`
	// Adoption lists, one per object, what behaves differently once Flux
	// has taken it over from KubeOrch, in workflow and node order.
	Adoption []Change `json:"changesOnAdoption"`
}

func (r *Report) add(wf string, l location, s Status, format string, args ...any) {
	r.Entries = append(r.Entries, Entry{Workflow: wf, File: l.file, Pointer: l.ptr, Status: s, Detail: fmt.Sprintf(format, args...)})
}

// Count returns how many entries have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, e := range r.Entries {
		if e.Status == s {
			n++
		}
	}
	return n
}

// WriteText writes the report as a table grouped by workflow.
func (r *Report) WriteText(w io.Writer) error {
	entries := append([]Entry(nil), r.Entries...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Workflow < entries[j].Workflow })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	last := ""
	for i, e := range entries {
		if i == 0 || e.Workflow != last {
			fmt.Fprintf(tw, "workflow %s:\n", e.Workflow)
			last = e.Workflow
		}
		fmt.Fprintf(tw, "  %s\t%s#%s\t%s\n", e.Status, e.File, e.Pointer, e.Detail)
	}
	if len(r.Adoption) > 0 {
		fmt.Fprintf(tw, "changes on adoption (a cluster with \"adopt\": \"kubeorch\"):\n")
	}
	for _, c := range r.Adoption {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Workflow, c.Object, c.Detail)
	}
	return tw.Flush()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // authors are Name <email>
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
