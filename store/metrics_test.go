package store

import (
	"strings"
	"testing"
)

// TestMetrics: an embedded server's health metrics are gathered, its
// debugging ones are not, and a store on an external etcd has none.
func TestMetrics(t *testing.T) {
	t.Parallel()
	embedded := open(t, t.TempDir())
	t.Cleanup(func() { embedded.Close() })
	if err := embedded.Queue().Signal(t.Context(), "metrics"); err != nil {
		t.Fatal(err)
	}
	families, err := embedded.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range families {
		names[mf.GetName()] = true
		if strings.HasPrefix(mf.GetName(), "etcd_debugging_") || !strings.HasPrefix(mf.GetName(), "etcd_") {
			t.Errorf("gathered %s", mf.GetName())
		}
	}
	for _, want := range []string{"etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds", "etcd_server_has_leader", "etcd_mvcc_db_total_size_in_bytes"} {
		if !names[want] {
			t.Errorf("no %s among %d families", want, len(families))
		}
	}

	external, err := Open(t.Context(), Config{Endpoints: embedded.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { external.Close() })
	if external.Metrics() != nil {
		t.Error("a store on an external etcd serves metrics of its own")
	}
}
