package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkImport1000 imports a compose file of 1,000 services with
// ports, environment, volumes, secrets and dependencies, in-process.
func BenchmarkImport1000(b *testing.B) {
	var s strings.Builder
	s.WriteString("services:\n")
	for i := range 1000 {
		fmt.Fprintf(&s, `  svc_%[1]d:
    image: ghcr.io/example/svc:%[1]d
    ports: ["%[2]d:8080", "9090"]
    environment:
      LOG_LEVEL: info
      INDEX: "%[1]d"
      API_TOKEN: secret-%[1]d
    volumes: ["data_%[1]d:/var/lib/data"]
    secrets: [shared]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "localhost:8080/health"]
      interval: 10s
`, i, 30000+i)
		if i%10 != 0 {
			// Chains of ten: compose-go's cycle search grows fast with
			// the length of a chain.
			fmt.Fprintf(&s, "    depends_on: [svc_%d]\n", i-1)
		}
	}
	s.WriteString("volumes:\n")
	for i := range 1000 {
		fmt.Fprintf(&s, "  data_%d:\n", i)
	}
	s.WriteString("secrets:\n  shared:\n    file: ./shared.txt\n")
	file := filepath.Join(b.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := Import(b.Context(), Options{Files: []string{file}})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(res.Workflow.Nodes); n < 3000 {
			b.Fatalf("%d nodes", n)
		}
	}
}
