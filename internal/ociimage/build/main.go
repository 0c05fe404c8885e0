// Command build makes Slipway's container image without a container
// runtime: it cross-compiles the service, cmd/hooks, for each platform
// (static, trimmed paths, no build ID) and writes the multi-platform index
// as an OCI image layout archive. The image's digest is printed and
// written beside the archive; a rebuild of the same commit gives the same
// digest.
//
//	go run ./internal/ociimage/build -o bin/slipway-image.tar -created $(git log -1 --format=%ct)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-gitops/slipway/internal/ociimage"
)

// programs are the commands the image holds; the first is its entrypoint.
// The compiler's command is left out: the service links the compiler
// package, and the command's SOPS key services would double the image.
var programs = []string{"hooks"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	out := fs.String("o", "bin/slipway-image.tar", "OCI layout archive to write")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated GOOS/GOARCH list")
	ref := fs.String("ref", "slipway:dev", "reference name recorded in the layout's index.json")
	created := fs.Int64("created", 0, "creation time, Unix seconds (the commit's time for a reproducible build)")
	revision := fs.String("revision", "", "source revision recorded as org.opencontainers.image.revision")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "slipway-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	spec := ociimage.Spec{
		Entrypoint: programs[0],
		Env:        []string{"HOOKS_DATA_DIR=/var/lib/slipway"},
		Ports:      []int{8080},
		Dirs:       []string{"/var/lib/slipway"},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "slipway",
			"org.opencontainers.image.source":   "https://github.com/slipway-gitops/slipway",
			"org.opencontainers.image.revision": *revision,
		},
		Created: time.Unix(*created, 0).UTC(),
	}
	for _, pl := range strings.Split(*platforms, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(pl), "/")
		if !ok || goos == "" || goarch == "" {
			return fmt.Errorf("platform %q is not GOOS/GOARCH", pl)
		}
		p := ociimage.Platform{OS: goos, Architecture: goarch, Binaries: map[string]string{}}
		for _, prog := range programs {
			bin := filepath.Join(work, goos+"-"+goarch, prog)
			if err := goBuild(ctx, goos, goarch, bin, "./cmd/"+prog); err != nil {
				return err
			}
			p.Binaries[prog] = bin
		}
		spec.Platforms = append(spec.Platforms, p)
	}
	idx, err := ociimage.Index(spec)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := writeFile(*out, func(w *bufio.Writer) error { return ociimage.WriteLayout(w, idx, *ref, spec.Created) }); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".digest", []byte(digest.String()+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// goBuild cross-compiles pkg into out, statically and reproducibly.
func goBuild(ctx context.Context, goos, goarch, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w", pkg, goos, goarch, err)
	}
	return nil
}

// writeFile writes name through a temporary file renamed into place, so
// that an interrupted build leaves no partial archive.
func writeFile(name string, write func(*bufio.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	err = errors.Join(write(w), w.Flush(), f.Chmod(0o644), f.Close())
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
