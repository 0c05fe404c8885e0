// Package review describes a change to a workflows repository the way a
// reviewer wants to read it in a pull request: a summary first, then per
// workflow the graph diff (nodes and edges), then each changed object as
// Flux will apply it (its overlay built with kustomize, namespace
// included): its changed field paths (spec.replicas: 1 → 3) and a unified
// diff. It writes text, Markdown within a size budget, or JSON.
package review
