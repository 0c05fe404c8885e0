// Command genspec writes the compose package's tables of the Compose
// Specification from the JSON Schema that compose-go embeds.
//
//	go run ./internal/genspec -o spec_gen.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/schema"

	"github.com/slipway-gitops/slipway/compose/internal/specgen"
)

func main() {
	out := flag.String("o", "spec_gen.go", "the file to write")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genspec:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	src, err := specgen.Generate([]byte(schema.Schema))
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}
