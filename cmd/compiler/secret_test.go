package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/sopsfile/encrypt"
)

// sopsRepo copies the fixture repository with the cluster prod given
// sops settings for a new age key and shop's secret node api-keys
// referencing its encrypted file. It returns the directory and the key.
func sopsRepo(t *testing.T) (string, *age.X25519Identity) {
	t.Helper()
	dir := copyFixture(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	patch := func(file string, patches ...testutil.Patch) {
		p := filepath.Join(dir, file)
		doc := testutil.Apply(t, testutil.LoadJSON(t, p), patches...)
		if err := os.WriteFile(p, testutil.Marshal(t, doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	patch("clusters/prod.json", testutil.Set("/sops", map[string]any{"age": []any{id.Recipient().String()}, "keySecret": "sops-age"}))
	doc := testutil.LoadJSON(t, filepath.Join(dir, "workflows/shop.json"))
	nodes := doc.(map[string]any)["nodes"].([]any)
	i := slices.IndexFunc(nodes, func(n any) bool { return n.(map[string]any)["id"] == "secret-api" })
	patch("workflows/shop.json", testutil.Set("/nodes/"+strconv.Itoa(i)+"/data/sopsFile", "secrets/shop/api-keys.sops.yaml"))
	return dir, id
}

// TestSecretSetThenBuild: a secret node whose file is missing fails the
// build; secret set writes it encrypted, with no value in the file or
// the output; build copies it into the base unchanged and the
// Kustomization decrypts it with the cluster's key Secret; setting one
// key again keeps the other only with the private key at hand.
func TestSecretSetThenBuild(t *testing.T) {
	dir, id := sopsRepo(t)
	const file = "secrets/shop/api-keys.sops.yaml"
	values := []string{"sk_live_stripe_value", "SG.sendgrid_value", "rotated_stripe_value"}
	noValue := func(where, s string) {
		t.Helper()
		for _, v := range values {
			if strings.Contains(s, v) {
				t.Errorf("%s holds the value %q", where, v)
			}
		}
	}

	code, _, stderr := runCmd(t, "check", "--source", dir)
	if code != exitFailed || !strings.Contains(stderr, file+" does not exist") {
		t.Fatalf("check without the file: exit %d, %s", code, stderr)
	}

	code, stdout, stderr := runCmd(t, "secret", "set", "--source", dir, "--workflow", "shop", "--node", "secret-api", "stripe="+values[0], "sendgrid="+values[1])
	if code != exitOK {
		t.Fatalf("secret set: exit %d, %s", code, stderr)
	}
	noValue("the output", stdout+stderr)
	enc, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	noValue(file, string(enc))
	leftovers, _ := filepath.Glob(filepath.Join(dir, "secrets/shop/.*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	out := t.TempDir()
	if code, _, stderr := runCmd(t, "build", "--source", dir, "--out", out); code != exitOK {
		t.Fatalf("build: exit %d, %s", code, stderr)
	}
	base, err := os.ReadFile(filepath.Join(out, "workflows/shop/base/secret-api-keys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(base, enc) {
		t.Errorf("the base's Secret differs from %s:\n%s", file, base)
	}
	flux, err := os.ReadFile(filepath.Join(out, "clusters/prod/shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(flux), "decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n") {
		t.Errorf("the Kustomization does not decrypt with sops-age:\n%s", flux)
	}

	code, stdout, stderr = runCmd(t, "secret", "set", "--source", dir, "--workflow", "shop", "--node", "api-keys", "stripe="+values[2])
	if code != exitFailed || !strings.Contains(stderr, `"sendgrid"`) || !strings.Contains(stderr, "SOPS_AGE_KEY_FILE") {
		t.Errorf("setting one key without the private key: exit %d, %s", code, stderr)
	}
	noValue("the output", stdout+stderr)

	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	if code, _, stderr := runCmd(t, "secret", "set", "--source", dir, "--workflow", "shop", "--node", "api-keys", "stripe="+values[2]); code != exitOK {
		t.Fatalf("setting one key with the private key: exit %d, %s", code, stderr)
	}
	enc, err = os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	noValue(file, string(enc))
	s, err := encrypt.Decrypt(file, enc)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["stripe"]) != values[2] || string(s.Data["sendgrid"]) != values[1] || len(s.Data) != 2 {
		t.Errorf("decrypted keys %v are not the rotated stripe and the kept sendgrid", slices.Sorted(maps.Keys(s.Data)))
	}
}

// TestSecretValues: values come from arguments, an env file or standard
// input; a bad line or argument is named by its place, never by its value.
func TestSecretValues(t *testing.T) {
	t.Parallel()
	const value = "Hx7-pQ2-zR9"
	envFile := filepath.Join(t.TempDir(), "values.env")
	if err := os.WriteFile(envFile, []byte("# the shop's keys\n\nstripe="+value+"\r\nsendgrid=a=b \"c\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stdin   string
		pairs   []string
		envFile string
		want    map[string]string
		err     string
	}{
		{"arguments", "", []string{"stripe=" + value, "sendgrid="}, "", map[string]string{"stripe": value, "sendgrid": ""}, ""},
		{"env file, as it is", "", nil, envFile, map[string]string{"stripe": value, "sendgrid": `a=b "c"`}, ""},
		{"standard input", "stripe=" + value + "\n", nil, "", map[string]string{"stripe": value}, ""},
		{"an argument without =", "", []string{"stripe=x", value}, "", nil, "argument 2: not KEY=VALUE"},
		{"a line without =", "# keys\n" + value + "\n", nil, "", nil, "standard input:2: not KEY=VALUE"},
		{"a key given twice", "stripe=" + value + "\nstripe=" + value + "\n", nil, "", nil, `standard input:2: the key "stripe" is given twice`},
		{"a bad key", "str ipe=" + value + "\n", nil, "", nil, `standard input:1: "str ipe" is not a Secret key name`},
		{"nothing", "# nothing\n", nil, "", nil, "standard input holds no KEY=VALUE line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := secretCommand{strings.NewReader(tt.stdin)}.values(tt.pairs, tt.envFile)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), value) {
					t.Errorf("got %v, want %q without the value", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got keys %v", slices.Sorted(maps.Keys(got)))
			}
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestSecretSetEnv: secret set writes the values of the variables
// workloads give by name only into the workflow's environment Secret,
// encrypted, whose file build renders into the base; a key no workload
// reads is refused, naming the key and never the value.
func TestSecretSetEnv(t *testing.T) {
	t.Parallel()
	dir, _ := sopsRepo(t)
	p := filepath.Join(dir, "workflows/shop.json")
	doc := testutil.LoadJSON(t, p)
	i := slices.IndexFunc(doc.(map[string]any)["nodes"].([]any), func(n any) bool { return n.(map[string]any)["id"] == "api" })
	doc = testutil.Apply(t, doc, testutil.Set("/nodes/"+strconv.Itoa(i)+"/data/envKeys/-", map[string]any{"id": "e9", "name": "DATABASE_URL"}))
	if err := os.WriteFile(p, testutil.Marshal(t, doc), 0o644); err != nil {
		t.Fatal(err)
	}
	const value, file = "postgres://api:Hx7-pQ2-zR9@db/shop", "secrets/shop/shop-env.sops.yaml"

	code, stdout, stderr := runCmd(t, "secret", "set", "--source", dir, "--workflow", "shop", "--node", "shop-env", "api.NOPE="+value)
	if code != exitFailed || !strings.Contains(stderr, "no workload reads the keys api.NOPE of the Secret shop-env") || strings.Contains(stdout+stderr, value) {
		t.Errorf("a key no workload reads: exit %d, %s", code, stderr)
	}
	code, stdout, stderr = runCmd(t, "secret", "set", "--source", dir, "--workflow", "shop", "--node", "shop-env", "api.DATABASE_URL="+value)
	if code != exitOK || !strings.Contains(stdout, file+": set api.DATABASE_URL") || strings.Contains(stdout+stderr, value) {
		t.Fatalf("secret set: exit %d, %s%s", code, stdout, stderr)
	}
	enc, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil || bytes.Contains(enc, []byte(value)) {
		t.Fatalf("%s: %v, or it holds the value", file, err)
	}
	if code, _, stderr := runCmd(t, "secret", "set", "--source", dir, "--workflow", "shop", "--node", "secret-api", "stripe=a", "sendgrid=b"); code != exitOK {
		t.Fatalf("secret set of api-keys: exit %d, %s", code, stderr)
	}
	out := t.TempDir()
	if code, _, stderr := runCmd(t, "build", "--source", dir, "--out", out); code != exitOK {
		t.Fatalf("build: exit %d, %s", code, stderr)
	}
	base, err := os.ReadFile(filepath.Join(out, "workflows/shop/base/secret-shop-env.yaml"))
	if err != nil || !bytes.Equal(base, enc) {
		t.Errorf("the base's environment Secret differs from %s (%v):\n%s", file, err, base)
	}
}
