// Package loader is compose-go's loader package (github.com/compose-spec/
// compose-go/v2/loader, v2.16.2, Apache License 2.0, The Compose
// Specification Authors) with one change: it does not import compose-go's
// schema package, so it does not validate files against the Compose JSON
// Schema even without SkipValidation.
//
// compose-go's schema package links github.com/santhosh-tekuri/jsonschema/v6,
// whose package initialisation compiles every JSON Schema meta-schema in
// every process that links it, whether it validates or not: about a third
// of the run time of `compiler import compose`. The compose package
// validates files with its own check, generated from the same schema, and
// always loads with SkipValidation.
//
// To update: copy the non-test files of the loader package of the
// compose-go version in go.mod, then remove the schema import and the
// schema.Validate call in loadYamlFile. The compose package's
// TestCopiesMatchUpstream keeps the copy in step with that version.
package loader
