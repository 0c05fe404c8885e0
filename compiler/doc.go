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
//	clusters/<cluster>/kustomization.yaml           lists the Flux Kustomizations of the cluster
//	clusters/<cluster>/<workflow>.yaml              Flux Kustomization
//	workflows/<workflow>/base/kustomization.yaml
//	workflows/<workflow>/base/<kind>-<name>.yaml    one object per file
//	workflows/<workflow>/overlays/<cluster>/kustomization.yaml
//	workflows/<workflow>/overlays/<cluster>/namespace.yaml
package compiler
