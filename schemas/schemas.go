// Package schemas holds the JSON Schemas (draft 2020-12) of Slipway's
// source files, for editors and for tools that check files before the
// compiler sees them. Editors find them through a file's "$schema" field.
//
// The schemas describe the structure of the files; rules that span nodes
// (edges, links, names per kind) are the compiler's. A test keeps the
// schemas and the workflow package in step.
package schemas

import _ "embed"

// Workflow is the schema of workflows/<name>.json.
//
//go:embed workflow.schema.json
var Workflow []byte

// Cluster is the schema of clusters/<name>.json.
//
//go:embed cluster.schema.json
var Cluster []byte

// Schema IDs, as the files' "$id" fields give them.
const (
	WorkflowID = "https://slipway.dev/schemas/workflow.schema.json"
	ClusterID  = "https://slipway.dev/schemas/cluster.schema.json"
)
