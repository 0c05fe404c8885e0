package gitrepo

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

func TestRedactCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"user and password", "https://user:s3cret@host/repo.git", "https://user:xxxxx@host/repo.git"},
		{"token as user", "https://ghp_token@github.com/o/r.git", "https://xxxxx@github.com/o/r.git"},
		{"token as user, upper-case scheme", "HTTPS://ghp_token@github.com/o/r.git", "HTTPS://xxxxx@github.com/o/r.git"},
		{"no path", "http://u:p@127.0.0.1:8080", "http://u:xxxxx@127.0.0.1:8080"},
		{"@ in the password", "https://u:p@ss@host/r", "https://u:xxxxx@host/r"},
		{"password that does not parse", "https://u:Sup3r%X@host/r", "https://u:xxxxx@host/r"},
		{"@ in the path", "https://host/r@1", "https://host/r@1"},
		{"query with @", "https://host/r?x=a@b", "https://host/r?x=a@b"},
		{"ssh user is no secret", "ssh://git@host/r.git", "ssh://git@host/r.git"},
		{"ssh password", "ssh://git:pw@host/r.git", "ssh://git:xxxxx@host/r.git"},
		{"scp-like address", "git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"local path", "/srv/git/workflows", "/srv/git/workflows"},
		{"no credentials", "https://github.com/o/r.git", "https://github.com/o/r.git"},
		{"in an error", `fetch https://u:pw@h/r.git: Get "https://u:***@h/r.git/info/refs": dial tcp`, `fetch https://u:xxxxx@h/r.git: Get "https://u:xxxxx@h/r.git/info/refs": dial tcp`},
		{"quoted, without path", `Get "https://tok@h": EOF`, `Get "https://xxxxx@h": EOF`},
		{"two URLs", "a https://x:1@h b http://y@i c", "a https://x:xxxxx@h b http://xxxxx@i c"},
		{"scheme only", "://", "://"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := RedactCredentials(tc.in); got != tc.want {
				t.Errorf("RedactCredentials(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzRedactCredentials: the password of a URL put in any text is
// replaced and nothing else changes; redacting twice changes nothing.
func FuzzRedactCredentials(f *testing.F) {
	f.Add("fetch ", "user", "s3cret-token", "host:8080/repo.git", ": refused")
	f.Add(`Get "`, "u", "p@ss%X", "h", `"`)
	f.Add("", "", "tok", "h/r", "")
	f.Fuzz(func(t *testing.T, before, user, password, rest, after string) {
		if strings.ContainsAny(password, "/?#\"'` \t\r\n") || strings.ContainsAny(user, ":@/?#\"'` \t\r\n") ||
			strings.ContainsAny(rest, "@\"'` \t\r\n") || strings.Contains(before+after, "://") {
			t.Skip()
		}
		in := before + "https://" + user + ":" + password + "@" + rest + " " + after
		want := before + "https://" + user + ":" + redactedSecret + "@" + rest + " " + after
		got := RedactCredentials(in)
		if got != want {
			t.Errorf("RedactCredentials(%q) = %q, want %q", in, got, want)
		}
		if again := RedactCredentials(got); again != got {
			t.Errorf("redacting again changed %q to %q", got, again)
		}
	})
}

// authRemote serves a bare repository with a main branch over smart HTTP
// behind basic authentication; it returns the repository's directory and
// its URL without credentials.
func authRemote(t *testing.T, user, password string) (bare string, u *url.URL) {
	t.Helper()
	root := t.TempDir()
	bare = filepath.Join(root, "workflows.git")
	gittest.InitBare(t, bare)
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add a file", map[string][]byte{"README.md": []byte("hi\n")})
	gittest.Git(t, work, "push", "-q", bare, "main")
	u, err := url.Parse(gittest.ServeAuth(t, root, user, password).URL + "/workflows.git")
	if err != nil {
		t.Fatal(err)
	}
	return bare, u
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRemoteErrorsHideCredentials fails to clone, fetch and push with
// credentials in the remote's URL, against a smart-HTTP remote that
// requires them and against a loopback port nothing listens on: no error
// carries the password or token, and each still names the remote.
func TestRemoteErrorsHideCredentials(t *testing.T) {
	t.Parallel()
	const user, password = "deployer", "s3cret-password-4711"
	bare, remote := authRemote(t, user, password)
	with := func(u *url.URL, info *url.Userinfo) string {
		c := *u
		c.User = info
		return c.String()
	}
	unreachable := &url.URL{Scheme: "http", Host: closedPort(t), Path: "/workflows.git"}
	check := func(t *testing.T, err error, secret, shown string) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the secret: %v", err)
		}
		if !strings.Contains(err.Error(), shown) {
			t.Errorf("the error does not name the remote as %s: %v", shown, err)
		}
	}
	for _, tc := range []struct {
		name, source, secret, shown string
	}{
		{"clone with a wrong password", with(remote, url.UserPassword(user, "wrong-password-0815")), "wrong-password-0815", user + ":xxxxx@" + remote.Host},
		{"clone with a token as user", with(remote, url.User("ghp_wrongtoken0815")), "ghp_wrongtoken0815", "xxxxx@" + remote.Host},
		{"clone of an unreachable remote", with(unreachable, url.UserPassword(user, password)), password, user + ":xxxxx@" + unreachable.Host},
		{"clone of an unreachable remote, token as user", with(unreachable, url.User("ghp_token4711")), "ghp_token4711", "xxxxx@" + unreachable.Host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Open(t.Context(), tc.source, Options{CacheDir: t.TempDir()})
			check(t, err, tc.secret, tc.shown)
		})
	}

	source := with(remote, url.UserPassword(user, password))
	shown := user + ":xxxxx@" + remote.Host
	t.Run("push declined", func(t *testing.T) {
		t.Parallel()
		r, err := Open(t.Context(), source, Options{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte("#!/bin/sh\necho declined >&2\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		change := Change{Files: map[string][]byte{"b.txt": []byte("b\n")}, Author: author, When: time.Unix(0, 0), Message: "Add b\n"}
		_, err = r.Append(t.Context(), "main", []Change{change})
		check(t, err, password, shown)
		t.Run("then fetch of a gone remote", func(t *testing.T) {
			if err := os.RemoveAll(bare); err != nil {
				t.Fatal(err)
			}
			err := r.Fetch(t.Context())
			check(t, err, password, shown)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("fetch error %v is not ErrUnavailable", err)
			}
			check(t, r.FetchPull(t.Context(), 7), password, shown)
		})
	})
}
