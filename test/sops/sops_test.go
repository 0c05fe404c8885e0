// Package sops_test shows on the real stack a secret node whose values
// live in git encrypted with SOPS: compiler secret set encrypts them for
// the cluster's age key, the compiler copies the ciphertext into the
// deploy branch, and kustomize-controller, given the private key as Flux
// documents it (a Secret with the key age.agekey beside the
// Kustomization), decrypts it into the Kubernetes Secret. So it does the
// workflow's environment Secret, whose keys the variables a workload
// gives by name only read. No value is in plaintext anywhere in git's
// history, in a log or in a pod's spec.
package sops_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/deploytest"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/kubetest"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

// root is the checkout's root.
const root = "../.."

// ns is the namespace of the workflow vault.
const ns = "vault-demo"

// keySecret is the Secret that holds the age private key for Flux.
const keySecret = "sops-age"

// values are the Secret's values; none may appear in plaintext in git or
// a log.
var values = map[string]string{
	"username": "svc-vault-3f9a1c",
	"password": "Hx7-pQ2!zR9@wL4#mN6$",
}

// envValues are the environment Secret's values, by key: app's variable
// API_TOKEN, which it gives by name only.
var envValues = map[string]string{"app.API_TOKEN": "tok-Vq3-kL8-zP1"}

// vault is the workflow: a Deployment app that reads the Secret app-creds,
// whose values are in secrets/vault/app-creds.sops.yaml, and its variable
// API_TOKEN from the key app.API_TOKEN of the Secret vault-env, whose
// values are in secrets/vault/vault-env.sops.yaml.
func vault(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"name": "vault", "namespace": ns, "status": "published",
		"nodes": []any{
			map[string]any{"id": "app", "type": "deployment", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
				"name": "app", "image": "nginx:1.27", "replicas": 1, "port": 8080,
				"envKeys": []any{map[string]any{"id": "e1", "name": "API_TOKEN"}}}},
			map[string]any{"id": "creds", "type": "secret", "position": map[string]any{"x": 0, "y": 0}, "data": map[string]any{
				"name": "app-creds", "keys": []any{map[string]any{"name": "username"}, map[string]any{"name": "password"}},
				"sopsFile": workflow.SopsFile("vault", "app-creds")}},
		},
		"edges": []any{map[string]any{"id": "e1", "source": "creds", "target": "app", "targetHandle": "envFrom"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildCompiler builds cmd/compiler and returns the binary.
func buildCompiler(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "compiler")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/compiler")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/compiler: %v\n%s", err, out)
	}
	return bin
}

// secretSet runs the compiler bin's secret set on the repository work
// for node, with vs on standard input, and returns what it printed. It
// runs without any age private key at hand.
func secretSet(t *testing.T, bin, work, node string, vs map[string]string) string {
	t.Helper()
	var stdin strings.Builder
	for k, v := range vs {
		stdin.WriteString(k + "=" + v + "\n")
	}
	cmd := exec.CommandContext(t.Context(), bin, "secret", "set", "--source", work, "--cluster", "default", "--workflow", "vault", "--node", node)
	cmd.Stdin = strings.NewReader(stdin.String())
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("compiler secret set --node %s: %v\n%s", node, err, out)
	}
	return string(out)
}

// plaintext returns the keys of the values and envValues that text
// holds, as they are or in base64.
func plaintext(text []byte) []string {
	var found []string
	for _, vs := range []map[string]string{values, envValues} {
		for k, v := range vs {
			if bytes.Contains(text, []byte(v)) || bytes.Contains(text, []byte(base64.StdEncoding.EncodeToString([]byte(v)))) {
				found = append(found, k)
			}
		}
	}
	return found
}

func TestSopsSecret(t *testing.T) {
	s, gitRoot := kubetest.ForTest(t, filepath.Join(root, ".tools/kube/bin"), true)
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}

	work := gittest.Init(t)
	cluster, err := json.Marshal(map[string]any{"name": "default", "default": true,
		"sops": map[string]any{"age": []string{id.Recipient().String()}, "keySecret": keySecret}})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{workflow.ClusterFile("default"): cluster, workflow.WorkflowFile("vault"): vault(t)} {
		if err := os.MkdirAll(filepath.Join(work, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildCompiler(t)
	logs := secretSet(t, bin, work, "creds", values) + secretSet(t, bin, work, "vault-env", envValues)
	t.Logf("compiler secret set: %s", logs)
	gittest.Commit(t, work, "Add vault with its encrypted credentials and environment", nil)
	bare := filepath.Join(gitRoot, "vault.git")
	_, res := deploytest.DeployWork(t, work, bare)

	// The key Secret goes where the workflow's Kustomization is, as the
	// compiler renders it.
	var k struct {
		Metadata struct{ Name, Namespace string }
		Spec     struct {
			Decryption struct {
				Provider  string
				SecretRef struct{ Name string }
			}
		}
	}
	if err := yaml.Unmarshal([]byte(gittest.Git(t, bare, "show", "deploy:clusters/default/vault.yaml")), &k); err != nil {
		t.Fatal(err)
	}
	if k.Spec.Decryption.Provider != "sops" || k.Spec.Decryption.SecretRef.Name != keySecret {
		t.Fatalf("the Kustomization's decryption is %+v, want sops with %s", k.Spec.Decryption, keySecret)
	}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: k.Metadata.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: keySecret, Namespace: k.Metadata.Namespace}, StringData: map[string]string{"age.agekey": id.String() + "\n"}}
	if _, err := s.Client.CoreV1().Secrets(k.Metadata.Namespace).Create(ctx, key, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bootstrap, err := compiler.Bootstrap(compiler.BootstrapOptions{Cluster: "default", URL: s.GitURL("vault.git"), Branch: "deploy", Interval: time.Minute}, compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	t.Logf("deployed %s", res.DeployCommit)

	t.Run("Flux decrypts it into the Secret", func(t *testing.T) {
		var last *unstructured.Unstructured
		err := s.Poll(ctx, 3*time.Minute, func() (bool, error) {
			u, err := dyn.Resource(watch.Kustomizations).Namespace(k.Metadata.Namespace).Get(ctx, k.Metadata.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			last = u
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			var status any
			if last != nil {
				status = last.Object["status"]
			}
			t.Fatalf("Kustomization %s/%s Ready: %v; status %v", k.Metadata.Namespace, k.Metadata.Name, err, status)
		}
		sec, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "app-creds", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sec.Data) != len(values) {
			t.Errorf("the Secret has %d keys, want %d", len(sec.Data), len(values))
		}
		for k, v := range values {
			if string(sec.Data[k]) != v {
				t.Errorf("the Secret's %s is not the value set", k)
			}
		}
	})

	t.Run("Flux decrypts the environment Secret, which the container reads", func(t *testing.T) {
		// The Kustomization is Ready: the previous subtest waited for it.
		sec, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "vault-env", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sec.Data) != len(envValues) {
			t.Errorf("the Secret has %d keys, want %d", len(sec.Data), len(envValues))
		}
		for k, v := range envValues {
			if string(sec.Data[k]) != v {
				t.Errorf("the Secret's %s is not the value set", k)
			}
		}
		var pods *corev1.PodList
		err = s.Poll(ctx, 2*time.Minute, func() (bool, error) {
			pods, err = s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: workflow.LabelName + "=app"})
			return err == nil && len(pods.Items) > 0, nil
		})
		if err != nil {
			t.Fatalf("no pod of app: %v", err)
		}
		want := corev1.EnvVar{Name: "API_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "vault-env"}, Key: "app.API_TOKEN"}}}
		for _, p := range pods.Items {
			if env := p.Spec.Containers[0].Env; !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return reflect.DeepEqual(e, want) }) {
				t.Errorf("pod %s's container does not read API_TOKEN from vault-env's app.API_TOKEN: %+v", p.Name, env)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if found := plaintext(b); len(found) > 0 {
				t.Errorf("pod %s holds the values of %v", p.Name, found)
			}
		}
	})

	t.Run("no value in plaintext in git's history", func(t *testing.T) {
		for _, r := range []string{bare, work} {
			history := gittest.Git(t, r, "log", "-p", "--all", "--full-history")
			if !strings.Contains(history, "ENC[AES256_GCM") {
				t.Fatalf("the history of %s holds no ciphertext: the check would prove nothing", r)
			}
			if found := plaintext([]byte(history)); len(found) > 0 {
				t.Errorf("the history of %s holds the values of %v", r, found)
			}
		}
	})

	t.Run("no value in a log", func(t *testing.T) {
		if found := plaintext([]byte(logs)); len(found) > 0 {
			t.Errorf("compiler secret set printed the values of %v", found)
		}
		files, err := filepath.Glob(filepath.Join(s.Dir, "logs", "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no logs in %s: %v", s.Dir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if found := plaintext(b); len(found) > 0 {
				t.Errorf("%s holds the values of %v", filepath.Base(f), found)
			}
		}
	})
}
