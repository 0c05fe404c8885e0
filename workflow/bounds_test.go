package workflow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDecodeBounds: a file written to take the memory of whatever reads
// it (a few MiB of empty nodes, compressed by git to a few KiB) is
// refused at the first value past MaxValues, a file that gives a member
// twice at the second, and a file with a problem in every node keeps
// maxProblems of them, and says how many more.
func TestDecodeBounds(t *testing.T) {
	t.Parallel()
	nodes := func(n int, node string) []byte {
		return fmt.Appendf(nil, `{"name":"bomb","status":"published","nodes":[%s],"edges":[]}`, strings.TrimSuffix(strings.Repeat(node+",", n), ","))
	}
	tests := []struct {
		name   string
		data   []byte
		first  string // the first problem, File: Pointer: Message
		last   string // how the last problem ends, when there are more than one
		length int
	}{
		{
			name: "more values than a file may hold",
			data: nodes(MaxValues, "{}"),
			// The document, its name, status and nodes are four values.
			first:  fmt.Sprintf("workflows/bomb.json: /nodes/%d: line 1, column %d: the file holds more than %d JSON values", MaxValues-4, 45+3*(MaxValues-4), MaxValues),
			length: 1,
		},
		// A reviewer reads the first, a decoder keeps the last: the file
		// would say one thing and deploy another.
		{
			name:   "a member given twice",
			data:   []byte("{\"name\":\"bomb\",\"status\":\"draft\",\n \"status\":\"published\",\"nodes\":[],\"edges\":[]}"),
			first:  "workflows/bomb.json: /status: line 2, column 2: " + errDuplicateName.Error(),
			length: 1,
		},
		{
			name:   "a member given twice, escaped",
			data:   []byte(`{"name":"bomb","status":"draft","nodes":[{"id":"a","data":{"image":"safe","\u0069mage":"evil"}}],"edges":[]}`),
			first:  "workflows/bomb.json: /nodes/0/data/image: line 1, column 75: " + errDuplicateName.Error(),
			length: 1,
		},
		{
			name:   "a problem in every node",
			data:   nodes(2*maxProblems, `{"id":"x","position":{"x":0,"y":0},"data":{}}`),
			first:  `workflows/bomb.json: /nodes/0/type: is required (node "x")`,
			last:   fmt.Sprintf(" more problems are not listed; the first %d are", maxProblems),
			length: maxProblems + 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode("workflows/bomb.json", tt.data)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("got %v, want problems", err)
			}
			if len(errs) != tt.length {
				t.Errorf("%d problems, want %d", len(errs), tt.length)
			}
			if got := errs[0].Error(); got != tt.first {
				t.Errorf("first problem:\n%s\nwant\n%s", got, tt.first)
			}
			if got := errs[len(errs)-1].Error(); tt.last != "" && !strings.HasSuffix(got, tt.last) {
				t.Errorf("last problem:\n%s\nwant it to end with\n%s", got, tt.last)
			}
		})
	}
}

// BenchmarkDecodeBomb measures the refusal of a file of MaxFileSize bytes
// of empty nodes: what a push can make every reader of the repository do.
func BenchmarkDecodeBomb(b *testing.B) {
	n := (MaxFileSize - 100) / 3
	data := fmt.Appendf(nil, `{"name":"bomb","status":"published","nodes":[%s]}`, strings.TrimSuffix(strings.Repeat("{},", n), ","))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode("workflows/bomb.json", data); err == nil {
			b.Fatal("decoded")
		}
	}
}
