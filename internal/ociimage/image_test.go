package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSpec is an image of two platforms whose "binaries" are small files.
func testSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	spec := Spec{
		Entrypoint: "hooks",
		Env:        []string{"HOOKS_DATA_DIR=/var/lib/slipway"},
		Ports:      []int{8080},
		Dirs:       []string{"/var/lib/slipway"},
		Labels:     map[string]string{"org.opencontainers.image.revision": "abc"},
		Created:    time.Unix(1700000000, 0).UTC(),
	}
	for _, arch := range []string{"amd64", "arm64"} {
		p := Platform{OS: "linux", Architecture: arch, Binaries: map[string]string{}}
		for _, prog := range []string{"hooks", "compiler"} {
			file := filepath.Join(dir, arch+"-"+prog)
			require.NoError(t, os.WriteFile(file, []byte(prog+" for "+arch), 0o644))
			p.Binaries[prog] = file
		}
		spec.Platforms = append(spec.Platforms, p)
	}
	return spec
}

func TestIndexIsReproducible(t *testing.T) {
	t.Parallel()
	spec := testSpec(t)
	var digests []v1.Hash
	var archives [][]byte
	for range 2 {
		idx, err := Index(spec)
		require.NoError(t, err)
		d, err := idx.Digest()
		require.NoError(t, err)
		digests = append(digests, d)
		var buf bytes.Buffer
		require.NoError(t, WriteLayout(&buf, idx, "slipway:dev", spec.Created))
		archives = append(archives, buf.Bytes())
	}
	assert.Equal(t, digests[0], digests[1])
	assert.Equal(t, archives[0], archives[1], "the layout archive of one index is the same bytes")

	other := testSpec(t)
	other.Created = spec.Created.Add(time.Second)
	idx, err := Index(other)
	require.NoError(t, err)
	d, err := idx.Digest()
	require.NoError(t, err)
	assert.NotEqual(t, digests[0], d, "the creation time is part of the image")
}

func TestImageRunsAsNonRoot(t *testing.T) {
	t.Parallel()
	spec := testSpec(t)
	idx, err := Index(spec)
	require.NoError(t, err)
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 2)
	for i, arch := range []string{"amd64", "arm64"} {
		desc := m.Manifests[i]
		require.NotNil(t, desc.Platform)
		assert.Equal(t, v1.Platform{OS: "linux", Architecture: arch}, *desc.Platform)
		img, err := idx.Image(desc.Digest)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, "65532:65532", cfg.Config.User)
		assert.Equal(t, []string{"/usr/local/bin/hooks"}, cfg.Config.Entrypoint)
		assert.Contains(t, cfg.Config.Env, "HOOKS_DATA_DIR=/var/lib/slipway")
		assert.Contains(t, cfg.Config.ExposedPorts, "8080/tcp")
		assert.Equal(t, arch, cfg.Architecture)

		files := layerFiles(t, img)
		assert.Equal(t, "hooks for "+arch, files["usr/local/bin/hooks"].data)
		assert.Equal(t, "compiler for "+arch, files["usr/local/bin/compiler"].data)
		assert.EqualValues(t, 0o755, files["usr/local/bin/hooks"].mode)
		assert.Contains(t, files["etc/passwd"].data, "nonroot:x:65532:65532:")
		assert.Equal(t, User, files["var/lib/slipway/"].uid, "the data directory belongs to the user")
		assert.Equal(t, 0, files["var/lib/"].uid)
		assert.EqualValues(t, 0o1777, files["tmp/"].mode)
	}
}

func TestIndexRefusesAMissingEntrypoint(t *testing.T) {
	t.Parallel()
	spec := testSpec(t)
	spec.Entrypoint = "slipway"
	_, err := Index(spec)
	require.ErrorContains(t, err, `linux/amd64: entrypoint "slipway" is not among the binaries`)
	_, err = Index(Spec{})
	require.Error(t, err)
}

// TestLayoutLoadsIntoARegistry unpacks the archive as an OCI layout and
// pushes it to a registry: the pushed index has the built digest and each
// platform pulls by it.
func TestLayoutLoadsIntoARegistry(t *testing.T) {
	t.Parallel()
	spec := testSpec(t)
	idx, err := Index(spec)
	require.NoError(t, err)
	want, err := idx.Digest()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteLayout(&buf, idx, "slipway:dev", spec.Created))

	dir := t.TempDir()
	untar(t, &buf, dir)
	lp, err := layout.FromPath(dir)
	require.NoError(t, err)
	outer, err := lp.ImageIndex()
	require.NoError(t, err)
	om, err := outer.IndexManifest()
	require.NoError(t, err)
	require.Len(t, om.Manifests, 1)
	assert.Equal(t, "slipway:dev", om.Manifests[0].Annotations["org.opencontainers.image.ref.name"])
	loaded, err := outer.ImageIndex(om.Manifests[0].Digest)
	require.NoError(t, err)

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/slipway:dev", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(ref, loaded, remote.WithContext(t.Context())))
	desc, err := remote.Get(ref, remote.WithContext(t.Context()))
	require.NoError(t, err)
	assert.Equal(t, want, desc.Digest)
	pulled, err := desc.ImageIndex()
	require.NoError(t, err)
	pm, err := pulled.IndexManifest()
	require.NoError(t, err)
	for _, m := range pm.Manifests {
		img, err := pulled.Image(m.Digest)
		require.NoError(t, err)
		files := layerFiles(t, img)
		assert.Equal(t, "hooks for "+m.Platform.Architecture, files["usr/local/bin/hooks"].data)
	}
}

type file struct {
	data string
	mode int64
	uid  int
}

// layerFiles reads an image's single layer.
func layerFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = file{data: string(data), mode: h.Mode, uid: h.Uid}
	}
}

// untar writes an archive's files under dir.
func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(target, 0o755))
			continue
		}
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o755))
		require.NoError(t, os.WriteFile(target, data, 0o644))
	}
}
