// Package cli is compose-go's cli package (github.com/compose-spec/
// compose-go/v2/cli, v2.16.2, Apache License 2.0, The Compose Specification
// Authors) over the loader copy in ../loader instead of compose-go's
// loader, so that the compiler does not link compose-go's JSON Schema
// validation (see package loader). The only change is that import, in a
// group of its own.
package cli
