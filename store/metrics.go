package store

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// etcdHealthPrefixes name the embedded etcd's metric families that tell
// its health: its disk (write-ahead log fsync, backend commits), its
// server (leader, proposals, slow applies, quota) and its database size.
// etcd's own guidance reads them; its debugging families are left out.
func etcdHealthPrefixes() []string {
	return []string{"etcd_disk_", "etcd_server_", "etcd_mvcc_db_"}
}

// Metrics returns the embedded etcd's health metrics for the service's
// /metrics, or nil with an external etcd, whose own endpoint serves them.
// etcd registers its metrics in Prometheus' default registry, once per
// process, so every embedded server of a process shares them.
func (s *Store) Metrics() prometheus.Gatherer {
	if s.server == nil {
		return nil
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		all, err := prometheus.DefaultGatherer.Gather()
		var keep []*dto.MetricFamily
		for _, mf := range all {
			for _, p := range etcdHealthPrefixes() {
				if strings.HasPrefix(mf.GetName(), p) {
					keep = append(keep, mf)
					break
				}
			}
		}
		return keep, err
	})
}
