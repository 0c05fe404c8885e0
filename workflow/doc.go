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
// The package does no I/O: callers hand it file contents.
package workflow
