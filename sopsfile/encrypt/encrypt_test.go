package encrypt_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/sopsfile/encrypt"
)

const file = "secrets/vault/app-creds.sops.yaml"

// values hold a binary value too: data keeps bytes as they are.
var values = map[string][]byte{
	"password": []byte("Hx7-pQ2!zR9@wL4#mN6$"),
	"username": []byte("svc-vault-3f9a1c"),
	"cert":     {0x00, 0xff, 0x10, 'p', 'e', 'm'},
}

func identity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// withKey makes id the age private key SOPS finds, and no other: not the
// user's own keys file.
func withKey(t *testing.T, id *age.X25519Identity) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("SOPS_AGE_KEY", "")
	if id == nil {
		t.Setenv("SOPS_AGE_KEY_FILE", filepath.Join(home, "absent"))
		return
	}
	p := filepath.Join(home, "keys.txt")
	if err := os.WriteFile(p, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", p)
}

// noValue fails when b holds a value, as it is or in base64.
func noValue(t *testing.T, what string, b []byte) {
	t.Helper()
	for k, v := range values {
		if bytes.Contains(b, v) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(v))) {
			t.Errorf("%s holds the value of %s", what, k)
		}
	}
}

// TestEncryptDecrypt: what Encrypt writes holds no value, passes the
// compile-time check with the Secret's name and keys, and decrypts, for
// any of its recipients, to the values.
func TestEncryptDecrypt(t *testing.T) {
	a, b := identity(t), identity(t)
	out, err := encrypt.Encrypt(encrypt.Secret{Name: "app-creds", Type: "Opaque", Data: values}, []string{a.Recipient().String(), b.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	noValue(t, "the file", out)
	s, err := sopsfile.Parse(file, out)
	if err != nil {
		t.Fatalf("the compile-time check refuses it: %v\n%s", err, out)
	}
	if s.Name != "app-creds" || s.Type != "Opaque" || strings.Join(s.Keys, ",") != "cert,password,username" || len(s.Recipients) != 2 {
		t.Errorf("parsed %+v", s)
	}
	for _, id := range []*age.X25519Identity{a, b} {
		withKey(t, id)
		got, err := encrypt.Decrypt(file, out)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "app-creds" || got.Type != "Opaque" || len(got.Data) != len(values) {
			t.Errorf("decrypted %s of type %s with %d keys", got.Name, got.Type, len(got.Data))
		}
		for k, v := range values {
			if !bytes.Equal(got.Data[k], v) {
				t.Errorf("%s decrypts to another value", k)
			}
		}
	}
}

// TestDecryptRefuses: a file changed after it was encrypted fails its
// MAC, and one whose recipients' keys are not at hand is not decrypted;
// neither error holds a value.
func TestDecryptRefuses(t *testing.T) {
	id := identity(t)
	out, err := encrypt.Encrypt(encrypt.Secret{Name: "app-creds", Data: values}, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	withKey(t, nil)
	if _, err := encrypt.Decrypt(file, out); err == nil || !strings.Contains(err.Error(), "SOPS_AGE_KEY_FILE") {
		t.Errorf("without the key: %v", err)
	} else {
		noValue(t, "the error", []byte(err.Error()))
	}

	withKey(t, id)
	other, err := encrypt.Encrypt(encrypt.Secret{Name: "app-creds", Data: map[string][]byte{"password": []byte("other")}}, []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	// The password of another file with the MAC of this one.
	line := func(b []byte, prefix string) string {
		for l := range strings.Lines(string(b)) {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		}
		t.Fatalf("no %s in\n%s", prefix, b)
		return ""
	}
	tampered := strings.Replace(string(out), line(out, "password:"), line(other, "password:"), 1)
	if _, err := encrypt.Decrypt(file, []byte(tampered)); err == nil {
		t.Errorf("a file with another's value decrypted")
	} else {
		noValue(t, "the error", []byte(err.Error()))
	}
}

// TestSet: a new file needs no key; replacing every key needs none
// either; keeping a key needs the private key, and without it Set fails
// naming the keys it would drop, never a value.
func TestSet(t *testing.T) {
	id := identity(t)
	recipients := []string{id.Recipient().String()}
	withKey(t, nil)
	first, err := encrypt.Set(file, nil, "app-creds", "", map[string][]byte{"password": values["password"], "username": values["username"]}, recipients)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := encrypt.Set(file, first, "app-creds", "", map[string][]byte{"password": values["password"], "username": values["username"]}, recipients); err != nil {
		t.Errorf("replacing every key without the private key: %v", err)
	}
	_, err = encrypt.Set(file, first, "app-creds", "", map[string][]byte{"password": []byte("rotated")}, recipients)
	if err == nil || !strings.Contains(err.Error(), `"username"`) {
		t.Fatalf("keeping username without the private key: %v", err)
	}
	noValue(t, "the error", []byte(err.Error()))

	withKey(t, id)
	next, err := encrypt.Set(file, first, "app-creds", "", map[string][]byte{"password": []byte("rotated")}, recipients)
	if err != nil {
		t.Fatal(err)
	}
	got, err := encrypt.Decrypt(file, next)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["password"]) != "rotated" || !bytes.Equal(got.Data["username"], values["username"]) || len(got.Data) != 2 {
		t.Errorf("after Set: %d keys, password rotated %t, username kept %t", len(got.Data), string(got.Data["password"]) == "rotated", bytes.Equal(got.Data["username"], values["username"]))
	}
}

// TestSopsVersion: the version files record is that of the SOPS
// library in go.mod.
func TestSopsVersion(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(mod), "github.com/getsops/sops/v3 v")
	if !ok {
		t.Fatal("go.mod does not require github.com/getsops/sops/v3")
	}
	version, _, _ := strings.Cut(rest, "\n")
	out, err := encrypt.Encrypt(encrypt.Secret{Name: "x", Data: map[string][]byte{"k": []byte("v")}}, []string{identity(t).Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	if want := "version: " + strings.TrimSpace(version) + "\n"; !strings.Contains(string(out), want) {
		t.Errorf("the file does not record %q:\n%s", want, out)
	}
}
