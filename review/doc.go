// Package review describes a change to a workflows repository the way a
// reviewer wants to read it in a pull request: a summary first, then what
// merging does beyond applying the changed objects (an immutable field
// that stops the apply, a Job that runs again, replicas handed to an HPA,
// a config change that rolls no pods out, what Flux prunes and what it
// keeps), then per workflow the graph diff (nodes and edges), then each
// changed object as Flux will apply it (its overlay built with kustomize,
// namespace included): its changed field paths (spec.replicas: 1 → 3) and
// a unified diff. It writes text, Markdown within a size budget, or JSON.
//
// Review.DryRun adds what the clusters' API servers say of the change: a
// server-side dry-run of each added and modified object, applied as
// Flux's kustomize-controller applies it, with the API server's refusal
// quoted or the live fields that change, a Secret's values masked.
package review
