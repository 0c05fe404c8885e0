// Package kubeorch imports workflows from KubeOrch, the system Slipway's
// workflow format comes from, as its API returns them: one workflow (GET
// /workflows/:id), a list of them (GET /workflows), and their versions
// (GET /workflows/:id/versions, or one version, or the versions embedded in
// older workflow documents).
//
// Nodes and edges are carried exactly as KubeOrch's canvas saved them; the
// workflow package reads them. The workflow-level fields are mapped:
//
//   - name, a display name, becomes a DNS-safe file name; the display name
//     is kept as the first line of the description when they differ.
//   - status, description and tags are kept; a deleted workflow (deleted_at
//     set) is archived.
//   - namespace: when every node names the same namespace, the workflow
//     deploys into it, as KubeOrch did.
//   - cluster_id, the name of the KubeOrch cluster the workflow runs on,
//     names the workflow's cluster file (a DNS-safe form of it); Result
//     lists those clusters, for the files a repository lacks.
//   - Each version becomes one commit, oldest first, dated with its
//     created_at, authored by its created_by (named by an authors file,
//     or by id at NoReplyDomain), with its description (and name, tag,
//     origin) as the message and trailers that say what KubeOrch knew:
//     KubeOrch-Version, the number, by which gitrepo numbers versions,
//     so that version N in KubeOrch is version N in Slipway, also for a
//     version that repeats the canvas before it (an empty commit: KubeOrch
//     makes a version on every run) and for KubeOrch-Restored-From.
//     A current canvas that differs from the newest version becomes one
//     more commit.
//
// Every field met is recorded in a Report as mapped, approximated or
// dropped, with the reason; the Report also lists each object whose
// behaviour changes when a cluster adopts what KubeOrch deployed. Problems are *workflow.Error values naming the
// input file and the JSON pointer of the offending value.
//
// Before Flux adopts what KubeOrch deployed in a namespace, HandOver hands
// the fields KubeOrch's field manager owns on its workloads to Flux's
// (HandOverFields on each object's managedFields), so that Flux's first
// apply removes what the workflow no longer draws instead of failing on
// it.
package kubeorch
