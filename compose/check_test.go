package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestGoldenInputErrors holds the errors of invalid compose files: each
// names the file, line and column of the offending key, and suggests the
// closest valid name.
func TestGoldenInputErrors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid compose files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			_, err := Import(t.Context(), Options{Files: []string{file}})
			if err == nil {
				t.Fatal("imported an invalid file")
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("not an *InputError: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".txt", err.Error()+"\n")
		})
	}
}

// TestWindowsVolumePaths imports host paths written for Windows as bind
// mounts, reported as other host paths are, not as volume names.
func TestWindowsVolumePaths(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "compose.yaml")
	compose := `services:
  web:
    image: nginx:1.27
    volumes:
      - /srv/data:/unix
      - C:\data:/backslash
      - D:/data:/slash
      - type: bind
        source: E:\data
        target: /long
`
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Import(t.Context(), Options{Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]Entry{}
	for _, e := range res.Report.Entries {
		entries[e.Field] = e
	}
	unix := entries["services.web.volumes[0]"]
	if unix.Status != Dropped || !strings.Contains(unix.Detail, "bind mount of data,") {
		t.Fatalf("unix path: %+v", unix)
	}
	for _, tc := range []struct{ name, field string }{
		{"backslash", "services.web.volumes[1]"},
		{"slash", "services.web.volumes[2]"},
		{"long syntax", "services.web.volumes[3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := entries[tc.field]; got.Status != unix.Status || got.Detail != unix.Detail {
				t.Errorf("got %s %q, want %s %q as for a unix path", got.Status, got.Detail, unix.Status, unix.Detail)
			}
		})
	}
}

// TestMergeKeyBomb checks a file whose merge keys (<<) merge nine aliases
// of a mapping that merges nine aliases in turn, nine levels deep: 650
// bytes that expand to 9^9 merges when each is followed where it is
// used. Each mapping must be expanded once, and compose-go then refuses
// the file for its aliasing.
func TestMergeKeyBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("x-a0: &a0 {x-k: v}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-a%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
	}
	b.WriteString("services:\n  web:\n    image: nginx:1.27\n    <<: *a9\n    depends_on: [db]\n  db:\n    image: postgres:16\n")
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := parseSource(file, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if errs := append(src.checkKeys(), checkReferences([]*yamlFile{src})...); len(errs) > 0 {
		t.Errorf("checks: %v", errs)
	}
	// The root, services, web, db and the ten anchored mappings.
	if n := len(src.merged); n > 14 {
		t.Errorf("%d mappings expanded, want at most 14", n)
	}
	if _, err := Import(t.Context(), Options{Files: []string{file}}); err == nil || !strings.Contains(err.Error(), "aliasing") {
		t.Errorf("import: %v, want compose-go's refusal of the aliasing", err)
	}
}

// FuzzLoadErrorsLocated holds the errors of compose-go's validation and
// type conversion to a place: on any compose file, each of them becomes
// an *InputError with a line and column in the file.
func FuzzLoadErrorsLocated(f *testing.F) {
	// compose-go warns through the global logrus logger on most inputs.
	logrus.SetOutput(io.Discard)
	seeds := composeFixtures(f)
	invalid, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range append(seeds, invalid...) {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := parseSource(file, data)
		if err != nil || len(src.checkKeys()) > 0 {
			return
		}
		opts := Options{Files: []string{file}, Name: "fuzz"}
		_, err = load(t.Context(), opts)
		if err == nil {
			return
		}
		text := err.Error()
		if !strings.Contains(text, "validating "+file+": ") && !strings.Contains(text, "error while interpolating ") {
			return
		}
		errs := loadErrors(err, []*yamlFile{src})
		if len(errs) == 0 {
			t.Fatalf("compose-go's error is not located: %v\n%s", err, data)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range errs {
			var ie *InputError
			if !errors.As(e, &ie) || ie.Line < 1 || ie.Line > lines || ie.Column < 1 {
				t.Fatalf("%v: not a place in the file (compose-go: %v)\n%s", e, err, data)
			}
		}
	})
}
