// Package compiler renders workflows into a deploy tree: kustomize bases,
// one overlay per cluster and Flux Kustomizations.
//
// Rendering is pure: workflow files in, files out. Every object is built
// from typed Kubernetes API values and marshalled with sorted keys, so the
// same source gives byte-identical output. Every overlay and cluster
// directory is built in memory with kustomize before anything is returned.
//
// The layout of the deploy tree:
//
//	clusters/<cluster>/kustomization.yaml           lists the cluster's Flux Kustomizations and Namespaces
//	clusters/<cluster>/<workflow>.yaml              Flux Kustomization
//	clusters/<cluster>/namespaces/<namespace>.yaml  Namespace, never pruned
//	workflows/<workflow>/base/kustomization.yaml
//	workflows/<workflow>/base/<kind>-<name>.yaml    one object per file
//	workflows/<workflow>/clusters/<cluster>/kustomization.yaml
//
// Namespaces belong to the cluster, not to a workflow; see namespaceFile
// for why, and for how trees rendered before (with the Namespace in
// workflows/<workflow>/overlays/<cluster>) move to this layout without
// Flux deleting anything. Bootstrap renders the Flux objects that apply a
// cluster's directory.
package compiler
