package compose

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// Status is what happened to a compose field.
type Status string

// Statuses.
const (
	Mapped       Status = "mapped"
	Approximated Status = "approximated"
	Dropped      Status = "dropped"
)

// Entry is one compose field met during an import.
type Entry struct {
	// Service is the compose service, or empty for top-level fields.
	Service string `json:"service,omitempty"`
	// Field is the compose path, like services.db.healthcheck.
	Field  string `json:"field"`
	Status Status `json:"status"`
	// Detail says how a field was mapped or approximated, or why it was
	// dropped.
	Detail string `json:"detail"`
}

// Report lists every compose field met, sorted by field.
type Report struct {
	Files   []string `json:"files"`
	Entries []Entry  `json:"entries"`

	// covered holds every recorded field and each field it is part of
	// (services.db for services.db.ports[0]).
	covered map[string]bool
}

func (r *Report) add(service, field string, s Status, format string, args ...any) {
	r.Entries = append(r.Entries, Entry{Service: service, Field: field, Status: s, Detail: fmt.Sprintf(format, args...)})
	if r.covered == nil {
		r.covered = map[string]bool{}
	}
	r.covered[field] = true
	for i := range len(field) {
		if field[i] == '.' || field[i] == '[' {
			r.covered[field[:i]] = true
		}
	}
}

// covers reports whether a field, or a part of it, was recorded.
func (r *Report) covers(field string) bool { return r.covered[field] }

func (r *Report) sort() {
	sort.SliceStable(r.Entries, func(i, j int) bool { return r.Entries[i].Field < r.Entries[j].Field })
}

// Counts returns how many fields were mapped, approximated and dropped.
func (r *Report) Counts() map[Status]int {
	c := map[Status]int{}
	for _, e := range r.Entries {
		c[e.Status]++
	}
	return c
}

// WriteText writes the report as a table.
func (r *Report) WriteText(w io.Writer) error {
	// tabwriter writes cell by cell: one system call each on a terminal.
	bw := bufio.NewWriter(w)
	c := r.Counts()
	fmt.Fprintf(bw, "%d fields: %d mapped, %d approximated, %d dropped\n", len(r.Entries), c[Mapped], c[Approximated], c[Dropped])
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	for _, e := range r.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Status, e.Field, e.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
