// Package watch reads what Slipway deployed back from the clusters: shared
// dynamic informers, one per resource type and cluster, label-selected on
// app.kubernetes.io/managed-by=slipway, plus Flux's Kustomizations and
// GitRepositories and the Events of managed objects; the health of each
// object (kstatus plus rules for the kinds it does not judge); roll-ups per
// node, workflow and cluster with the worst object's reason in words; and
// the mapping from Flux's applied revision to a workflow version.
//
// Health is computed by pure functions over one object (health.go); the
// informers live in informer.go. Nothing in this package writes to a
// cluster.
package watch
