package hooks

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkStatusEvent measures a status record's write to its event at
// a streaming client: etcd's watch, the stream and loopback HTTP.
func BenchmarkStatusEvent(b *testing.B) {
	st, base := serveStatus(b, ReadAccess{})
	ev := openEvents(b, base+"/api/events?after=0")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		began := time.Now()
		if _, err := st.PutStatus(b.Context(), "workflows/bench", fmt.Appendf(nil, `{"name":"bench","n":%d}`, i)); err != nil {
			b.Fatal(err)
		}
		for ev.next(b).kind != "workflow" {
		}
		lat = append(lat, time.Since(began))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
