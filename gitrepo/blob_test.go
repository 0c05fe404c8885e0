package gitrepo

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestHugeBlobRefusedUnread: a workflow file far over the size limit is
// refused from its object header, before it is inflated, whether loose or
// packed. Not parallel: it counts the bytes the process allocates.
func TestHugeBlobRefusedUnread(t *testing.T) {
	const huge = 64 << 20 // compresses to almost nothing, inflates whole
	for _, packed := range []bool{false, true} {
		name := map[bool]string{false: "loose", true: "packed"}[packed]
		t.Run(name, func(t *testing.T) {
			dir := newSourceRepo(t)
			gittest.Commit(t, dir, "Add a huge workflow", map[string][]byte{"workflows/huge.json": bytes.Repeat([]byte(" "), huge)})
			if packed {
				gittest.Git(t, dir, "gc", "-q")
			}
			r := open(t, dir)
			head, err := r.Resolve("main")
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = r.Source(head)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "workflows/huge.json") || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("huge workflow: %v", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > huge/4 {
				t.Errorf("reading the source allocated %d MiB for a %d MiB blob it refuses", got>>20, huge>>20)
			}
		})
	}
}
