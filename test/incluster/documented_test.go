package incluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/internal/ociimage"
	"github.com/slipway-gitops/slipway/internal/registrytest"
)

// The page's commands and overlay, as a newcomer copies them. The test
// fails when the page no longer holds one of them verbatim: what is tried
// here is what the page says.
const (
	guide = "../../docs/running-in-a-cluster.md"

	unpackStep = `mkdir -p /tmp/slipway-image && tar -xf bin/slipway-image.tar -C /tmp/slipway-image`
	pushStep   = `crane push /tmp/slipway-image registry.example.com/slipway:$(git rev-parse --short HEAD)`
	overlay    = `# kustomization.yaml
resources:
  - github.com/slipway-gitops/slipway//config/default?ref=main
images:
  - name: ghcr.io/slipway-gitops/slipway
    newName: registry.example.com/slipway
    digest: sha256:…            # from bin/slipway-image.tar.digest
configMapGenerator:
  - name: slipway-hooks
    namespace: slipway-system
    behavior: merge
    literals:
      - HOOKS_SOURCE_REPO=https://github.com/you/workflows.git
`
	secretStep = `WEBHOOK_SECRET=$(openssl rand -hex 32)   # keep it for GitHub's webhook settings
API_TOKEN=$(openssl rand -hex 24)
kubectl create namespace slipway-system
kubectl -n slipway-system create secret generic slipway-hooks \
  --from-literal=HOOKS_GITHUB_WEBHOOK_SECRET="$WEBHOOK_SECRET" \
  --from-literal=HOOKS_SOURCE_REPO="https://x-access-token:$GITHUB_TOKEN@github.com/you/workflows.git" \
  --from-literal=HOOKS_GITHUB_TOKEN="$GITHUB_TOKEN" \
  --from-literal=HOOKS_API_TOKENS="$API_TOKEN"
`
	applyStep = `kubectl apply -k .
kubectl -n slipway-system rollout status statefulset/slipway-etcd --timeout=5m
kubectl -n slipway-system rollout status deployment/slipway-hooks --timeout=5m
`
)

// inGuide requires the page to hold block, indented as the numbered step
// it is part of (indent spaces before every line but empty ones).
func inGuide(t *testing.T, page, block string, indent int) {
	t.Helper()
	lines := strings.Split(block, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = strings.Repeat(" ", indent) + l
		}
	}
	require.Contains(t, page, strings.Join(lines, "\n"), "%s no longer says this; change the test with it", guide)
}

// TestRunInAClusterAsDocumented follows docs/running-in-a-cluster.md as a
// newcomer would, on a real API server: the image archive is unpacked and
// pushed to a registry, the overlay is written as the page writes it, the
// commands of its steps run in a shell as they are written (kubectl is
// the stack's), and the replicas and etcd members come up with the pushed
// image by digest and the overlay's configuration, which the service's own
// configuration check accepts. Three things stand in: the archive holds
// a stand-in program (make image cross-compiles the service twice, too
// slow for a test; the archive is written by the same code), the push is
// crane's (an OCI layout of one index, written as an index) done in Go,
// and the overlay names the base by a relative path, as the page allows,
// since tests reach no network.
func TestRunInAClusterAsDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(guide)
	require.NoError(t, err)
	page := string(b)
	inGuide(t, page, unpackStep, 0)
	inGuide(t, page, pushStep, 0)
	inGuide(t, page, overlay, 3)
	inGuide(t, page, secretStep, 3)
	inGuide(t, page, applyStep, 3)

	work := t.TempDir()
	unpacked := filepath.Join(work, "slipway-image")
	digest := writeImageArchive(t, filepath.Join(work, "bin", "slipway-image.tar"))
	registry := registrytest.Serve(t)
	kubectlDir, err := filepath.Abs(binDir)
	require.NoError(t, err)

	// The image.
	shell(t, work, strings.ReplaceAll(unpackStep, "/tmp/slipway-image", unpacked), nil)
	ref, err := name.ParseReference(registry+"/slipway:test", name.Insecure)
	require.NoError(t, err)
	cranePush(t, unpacked, ref)
	pushed, err := remote.Index(ref.Context().Digest(digest), remote.WithContext(t.Context()))
	require.NoError(t, err, "the pushed image by the digest of bin/slipway-image.tar.digest")
	m, err := pushed.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 2, "both platforms under one index")

	// Step 1: the overlay.
	dir := filepath.Join(work, "slipway-overlay")
	require.NoError(t, os.Mkdir(dir, 0o755))
	base, err := filepath.Abs("../../config/default")
	require.NoError(t, err)
	base, err = filepath.Rel(dir, base)
	require.NoError(t, err)
	k := strings.NewReplacer(
		"github.com/slipway-gitops/slipway//config/default?ref=main", base,
		"registry.example.com", registry,
		"sha256:…", digest,
	).Replace(overlay)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644))

	s, _ := kubetest.ForTest(t, binDir, false)
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	env := []string{"PATH=" + kubectlDir + string(os.PathListSeparator) + os.Getenv("PATH"), "KUBECONFIG=" + s.Kubeconfig, "GITHUB_TOKEN=github-token-for-tests"}

	// Step 2: the Secret.
	shell(t, dir, secretStep, env)

	// Step 3, on a cluster with a default StorageClass: the stack has no
	// provisioner, so the etcd members' volumes are made beforehand.
	require.NoError(t, s.PersistentVolumes(ctx, "", 3), "volumes for the etcd members' claims")
	shell(t, dir, applyStep, env)

	d, err := s.Client.AppsV1().Deployments("slipway-system").Get(ctx, "slipway-hooks", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(3), d.Status.AvailableReplicas)
	c := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, registry+"/slipway@"+digest, c.Image, "the pushed image, by digest")

	// What a replica gets, the service's own check accepts: the
	// ConfigMap's values and then the Secret's, which win (envFrom's
	// order), the component's etcd, the kubeconfig where it is mounted.
	require.Len(t, c.EnvFrom, 2)
	require.NotNil(t, c.EnvFrom[0].ConfigMapRef)
	require.NotNil(t, c.EnvFrom[1].SecretRef)
	vars := map[string]string{}
	cm, err := s.Client.CoreV1().ConfigMaps("slipway-system").Get(ctx, c.EnvFrom[0].ConfigMapRef.Name, metav1.GetOptions{})
	require.NoError(t, err)
	for k, v := range cm.Data {
		vars[k] = v
	}
	secret, err := s.Client.CoreV1().Secrets("slipway-system").Get(ctx, c.EnvFrom[1].SecretRef.Name, metav1.GetOptions{})
	require.NoError(t, err)
	for k, v := range secret.Data {
		vars[k] = string(v)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeMounted(ctx, t, s, d, "/etc/slipway", kubeconfig)
	vars["HOOKS_KUBECONFIG"] = kubeconfig
	cfg, err := hooks.LoadConfig(ctx, envconfig.MapLookuper(vars))
	require.NoError(t, err, "the service's configuration check")
	require.Equal(t, "https://github.com/you/workflows.git", cm.Data["HOOKS_SOURCE_REPO"], "the overlay's repository")
	require.Equal(t, "https://x-access-token:github-token-for-tests@github.com/you/workflows.git", cfg.SourceRepo, "the Secret's, with the credentials to push")
	require.Len(t, cfg.EtcdEndpoints, 3)
	require.Len(t, cfg.APITokens, 1)
}

// writeImageArchive writes an OCI layout archive as make image writes it
// (ociimage.Index and WriteLayout, both platforms), of a stand-in program,
// and returns the index's digest, which make image prints.
func writeImageArchive(t *testing.T, out string) string {
	t.Helper()
	prog := filepath.Join(t.TempDir(), "hooks")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/false\n"), 0o755))
	created := time.Unix(1_700_000_000, 0).UTC()
	spec := ociimage.Spec{Entrypoint: "hooks", Dirs: []string{"/var/lib/slipway"}, Ports: []int{8080}, Created: created}
	for _, arch := range []string{"amd64", "arm64"} {
		spec.Platforms = append(spec.Platforms, ociimage.Platform{OS: "linux", Architecture: arch, Binaries: map[string]string{"hooks": prog}})
	}
	idx, err := ociimage.Index(spec)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	f, err := os.Create(out)
	require.NoError(t, err)
	require.NoError(t, ociimage.WriteLayout(f, idx, "slipway:test", created))
	require.NoError(t, f.Close())
	d, err := idx.Digest()
	require.NoError(t, err)
	return d.String()
}

// cranePush does what `crane push DIR REF` does with an OCI layout: the
// one entry of its index.json, here an image index, written to ref.
func cranePush(t *testing.T, dir string, ref name.Reference) {
	t.Helper()
	l, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err, "%s is an OCI layout", dir)
	m, err := l.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 1, "crane push takes a layout of one entry (more need --index)")
	require.True(t, m.Manifests[0].MediaType.IsIndex(), "the entry is the multi-platform index")
	idx, err := l.ImageIndex(m.Manifests[0].Digest)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(ref, idx, remote.WithContext(t.Context())))
}

// shell runs script with sh -e in dir, as a person pastes it.
func shell(t *testing.T, dir, script string, env []string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "sh", "-e", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\n%s", script, out)
}

// writeMounted writes to file the one key of the ConfigMap that d's
// container mounts at path, as the kubelet would.
func writeMounted(ctx context.Context, t *testing.T, s *kubetest.Stack, d *appsv1.Deployment, path, file string) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, err := s.Client.CoreV1().ConfigMaps(d.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			require.NoError(t, err)
			require.Len(t, cm.Data, 1)
			for _, data := range cm.Data {
				require.NoError(t, os.WriteFile(file, []byte(data), 0o600))
			}
			return
		}
	}
	t.Fatalf("nothing is mounted at %s", path)
}
