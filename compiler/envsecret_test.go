package compiler

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/slipway-gitops/slipway/sopsfile/encrypt"
	"github.com/slipway-gitops/slipway/workflow"
)

// TestEnvSecret: the environment Secret's encrypted file is the base's
// Secret, decrypted by the workflow's Kustomization; new values render
// the workflow again and roll the pods that read them; without the file
// nothing is rendered in its place; a file Flux could not decrypt fails
// the build, naming the file and the place.
func TestEnvSecret(t *testing.T) {
	t.Parallel()
	const (
		file    = "secrets/shop/shop-env.sops.yaml"
		base    = "workflows/shop/base/secret-shop-env.yaml"
		web     = "workflows/shop/base/deployment-web.yaml"
		flux    = "clusters/prod/shop.yaml"
		decrypt = "  decryption:\n    provider: sops\n"
	)
	src := readFixtures(t, filepath.Join("testdata", "envsecret"))
	c := newCompiler(t)
	first := build(t, c, src)
	if !bytes.Equal(first.Tree[base], src[file]) || !strings.Contains(string(first.Tree[flux]), decrypt) {
		t.Fatalf("the base's Secret is not the encrypted file, or %s does not decrypt:\n%s", flux, first.Tree[flux])
	}

	next, err := encrypt.Encrypt(encrypt.Secret{Name: "shop-env", Data: map[string][]byte{"web.SESSION_KEY": []byte("rotated")}}, []string{sopsAgeKey})
	if err != nil {
		t.Fatal(err)
	}
	src[file] = next
	second := build(t, c, src)
	if second.Rendered != 1 || !bytes.Equal(second.Tree[base], next) {
		t.Errorf("after new values: rendered %d workflows, base Secret current: %t", second.Rendered, bytes.Equal(second.Tree[base], next))
	}
	if bytes.Equal(first.Tree[web], second.Tree[web]) {
		t.Errorf("%s is unchanged: its pods keep the old values", web)
	}
	const cronjob = "workflows/shop/base/cronjob-cleanup.yaml"
	if !bytes.Equal(first.Tree[cronjob], second.Tree[cronjob]) {
		t.Errorf("%s changed: a CronJob's next Job reads the values as it starts", cronjob)
	}

	delete(src, file)
	without := build(t, c, src)
	if _, ok := without.Tree[base]; ok || strings.Contains(string(without.Tree[flux]), decrypt) || strings.Contains(string(without.Tree[web]), AnnotationConfigHash) {
		t.Errorf("without the file, the workflow still renders the Secret, decrypts or hashes it:\n%s\n%s", without.Tree[flux], without.Tree[web])
	}
	if !strings.Contains(string(without.Tree[web]), "key: web.SESSION_KEY") {
		t.Errorf("%s does not read the Secret supplied in the cluster:\n%s", web, without.Tree[web])
	}

	stranger, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := encrypt.Encrypt(encrypt.Secret{Name: "shop-env", Data: map[string][]byte{"web.SESSION_KEY": []byte("x")}}, []string{stranger.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	src[file] = other
	_, err = c.Build(t.Context(), src)
	if !hasProblem(err, file, "/sops/age", "encrypted for none of the age keys of clusters/prod.json") {
		t.Errorf("a file the cluster cannot decrypt: %v", err)
	}
}

// TestEnvSecretOfANode: a secret node named like the environment Secret
// holds it: its file is the node's, rendered once, as the node's.
func TestEnvSecretOfANode(t *testing.T) {
	t.Parallel()
	const file = "secrets/shop/shop-env.sops.yaml"
	src := readFixtures(t, filepath.Join("testdata", "envsecret"))
	node := `{"id": "env", "type": "secret", "position": {"x": 0, "y": 250}, "data": {"name": "shop-env", "sopsFile": "` + file + `", "keys": [
      {"name": "api.DATABASE_URL"}, {"name": "cleanup.DATABASE_URL"}, {"name": "web.DATABASE_URL"}, {"name": "web.SESSION_KEY"}]}},
    {"id": "api",`
	if !bytes.Contains(src["workflows/shop.json"], []byte(`{"id": "api",`)) {
		t.Fatal("workflows/shop.json has no node api")
	}
	src["workflows/shop.json"] = bytes.Replace(src["workflows/shop.json"], []byte(`{"id": "api",`), []byte(node), 1)
	res := build(t, newCompiler(t), src)
	if got := res.Tree["workflows/shop/base/secret-shop-env.yaml"]; !bytes.Equal(got, src[file]) {
		t.Errorf("the node's Secret is not its file:\n%s", got)
	}
}

// hasProblem reports whether err holds a problem of file at pointer
// whose message holds msg.
func hasProblem(err error, file, pointer, msg string) bool {
	for _, e := range workflow.AsErrors(err) {
		if e.File == file && e.Pointer == pointer && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}
