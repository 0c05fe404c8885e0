// Package ociimage assembles Slipway's container image from binaries that
// `go build` made, without a container runtime: one layer of files on an
// empty base, a non-root user, one manifest per platform under an OCI
// image index. The same binaries and the same creation time give the same
// digest.
package ociimage

import (
	"archive/tar"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	imagespec "github.com/opencontainers/image-spec/specs-go/v1"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the numeric user and group the image runs as: distroless's
// "nonroot".
const User = 65532

// Platform is one image of the index: its OS/architecture and the
// programs built for it.
type Platform struct {
	// OS and Architecture as GOOS and GOARCH name them.
	OS, Architecture string
	// Binaries maps a program's name in the image (installed under
	// /usr/local/bin) to the file go build wrote.
	Binaries map[string]string
}

// Spec is what every platform's image shares.
type Spec struct {
	// Platforms are the images of the index, at least one.
	Platforms []Platform
	// Entrypoint is the program (a key of each platform's Binaries) the
	// image runs.
	Entrypoint string
	// Env is the image's environment, "NAME=value".
	Env []string
	// Ports are the TCP ports the image listens on.
	Ports []int
	// Dirs are directories created empty and owned by User, such as the
	// service's data directory.
	Dirs []string
	// Labels are the image's labels (org.opencontainers.image.*).
	Labels map[string]string
	// Created is the time every file and the image are dated: the
	// commit's time, so that a rebuild of one commit is identical.
	Created time.Time
}

// Index builds the multi-platform image index that spec describes.
func Index(spec Spec) (v1.ImageIndex, error) {
	if len(spec.Platforms) == 0 {
		return nil, errors.New("ociimage: no platform")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range spec.Platforms {
		img, err := image(spec, p)
		if err != nil {
			return nil, fmt.Errorf("ociimage: %s/%s: %w", p.OS, p.Architecture, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &v1.Platform{OS: p.OS, Architecture: p.Architecture},
			},
		})
	}
	return idx, nil
}

// image builds one platform's image.
func image(spec Spec, p Platform) (v1.Image, error) {
	if _, ok := p.Binaries[spec.Entrypoint]; !ok {
		return nil, fmt.Errorf("entrypoint %q is not among the binaries", spec.Entrypoint)
	}
	files, err := tree(spec, p)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: spec.Created}, CreatedBy: "slipway ociimage"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.OS, p.Architecture
	cfg.Created = v1.Time{Time: spec.Created}
	cfg.Config.User = fmt.Sprintf("%d:%d", User, User)
	cfg.Config.Entrypoint = []string{path.Join("/usr/local/bin", spec.Entrypoint)}
	cfg.Config.WorkingDir = "/home/nonroot"
	cfg.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot"}, spec.Env...)
	cfg.Config.Labels = spec.Labels
	if len(spec.Ports) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, port := range spec.Ports {
			cfg.Config.ExposedPorts[fmt.Sprintf("%d/tcp", port)] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cfg)
}

// entry is one file or directory of the layer.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte
	dir  bool
}

// tree writes the layer's tar: the binaries, the user's passwd and group
// entries, its home, /tmp and spec.Dirs, in name order and dated
// spec.Created.
func tree(spec Spec, p Platform) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", User, User)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", User)
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: User, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
	}
	for _, d := range spec.Dirs {
		entries = append(entries, parents(entries, d)...)
		entries = append(entries, entry{name: path.Clean(d)[1:] + "/", mode: 0o700, uid: User, dir: true})
	}
	for name, file := range p.Binaries {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{name: "usr/local/bin/" + name, mode: 0o755, data: data})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	entries = slices.CompactFunc(entries, func(a, b entry) bool { return a.name == b.name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, Size: int64(len(e.data)),
			ModTime: spec.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parents returns directory entries, owned by root, for the parents of dir
// that have none among entries.
func parents(entries []entry, dir string) []entry {
	var out []entry
	for d := path.Dir(path.Clean(dir)); d != "/" && d != "."; d = path.Dir(d) {
		name := d[1:] + "/"
		if !slices.ContainsFunc(entries, func(e entry) bool { return e.name == name }) {
			out = append(out, entry{name: name, mode: 0o755, dir: true})
		}
	}
	return out
}

// WriteLayout writes idx as a tar archive of an OCI image layout whose
// index.json names it ref, every entry dated created, so that the archive
// of one index is the same bytes each time.
func WriteLayout(w io.Writer, idx v1.ImageIndex, ref string, created time.Time) error {
	dir, err := os.MkdirTemp("", "ociimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("ociimage: layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{imagespec.AnnotationRefName: ref})); err != nil {
		return fmt.Errorf("ociimage: layout: %w", err)
	}
	var names []string
	err = filepath.WalkDir(dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || file == dir {
			return err
		}
		rel, err := filepath.Rel(dir, file)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	tw := tar.NewWriter(w)
	for _, name := range names {
		file := filepath.Join(dir, filepath.FromSlash(name))
		info, err := os.Stat(file)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: name, Mode: 0o644, ModTime: created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if info.IsDir() {
			h.Name, h.Mode, h.Typeflag = name+"/", 0o755, tar.TypeDir
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return tw.Close()
}
