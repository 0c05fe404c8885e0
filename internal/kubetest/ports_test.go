package kubetest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartOnFreePorts starts a real etcd whose first ports include one
// that another process holds, as happens when a client's connection is
// given a port between its reservation and etcd's bind: etcd is started
// again on other ports, and serves. A start that fails for another reason
// is not tried again.
func TestStartOnFreePorts(t *testing.T) {
	t.Parallel()
	bin := requireBinaries(t, binDir)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	taken := held.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		// portTaken gives etcd the held port first.
		portTaken bool
		// prepare readies the stack's directory.
		prepare func(t *testing.T, dir string)
		// attempts is how many sets of ports the stack asks for.
		attempts int
		ok       bool
	}{
		{name: "a taken port is replaced", portTaken: true, prepare: func(*testing.T, string) {}, attempts: 2, ok: true},
		{name: "another failure is not retried", prepare: func(t *testing.T, dir string) {
			// etcd cannot use a data directory that is a file.
			if err := os.WriteFile(filepath.Join(dir, "etcd"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, attempts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, dir)
			attempts := 0
			s := &Stack{opts: Options{BinDir: bin}, Dir: dir, ports: func(n int) ([]int, error) {
				attempts++
				ports, err := freePorts(n)
				if err == nil && tc.portTaken && attempts == 1 {
					ports[0] = taken
				}
				return ports, err
			}}
			t.Cleanup(s.Stop)

			url, err := s.startEtcd(t.Context())
			if attempts != tc.attempts {
				t.Errorf("asked for ports %d times, want %d", attempts, tc.attempts)
			}
			if !tc.ok {
				if err == nil {
					t.Fatalf("etcd started on %s", url)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(url, held.Addr().String()) {
				t.Errorf("etcd serves on %s, the port another process holds", url)
			}
			first, err := os.ReadFile(filepath.Join(dir, "logs", "etcd.log.1"))
			if err != nil || !strings.Contains(string(first), "address already in use") {
				t.Errorf("the first etcd's log is not kept as etcd.log.1 (%v): %s", err, first)
			}
		})
	}
}
