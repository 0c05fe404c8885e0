// Package workflow holds the Slipway workflow model: a graph of Kubernetes
// resources (nodes) linked by edges, as drawn on a canvas and stored as one
// JSON file per workflow in a git repository.
//
// The package decodes workflow and cluster files strictly (an unknown field
// is an error), validates everything a cluster would reject later, and
// resolves edges into typed links. Every problem is reported with the file,
// a JSON pointer and the node id, and all problems of a file are reported
// together.
//
// Each node kind is described once, in kinds.go: its data type, whether it
// runs pods, its name rule, its checks and what its edges mean. Links are
// resolved (resolve.go) apart from the checks that report on them
// (checklinks.go); a workflow that passed validation has a Valid, which
// holds its links and is what the compiler renders.
//
// The package does no I/O: callers hand it file contents.
package workflow
