package gittest

import (
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"testing"
)

// ServeAuth is Serve behind HTTP basic authentication: a request without
// user and password gets 401 with a challenge, as from a git host that
// requires credentials.
func ServeAuth(t testing.TB, root, user, password string) *Server {
	t.Helper()
	backend, err := url.Parse(Serve(t, root).URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &Server{srv}
}

// AuthRemote pushes main of a new repository holding the files of the
// directory fixture to a bare repository served by ServeAuth, and returns
// its URL with user and password in it, and the bare repository's path
// (to take the remote away).
func AuthRemote(t testing.TB, fixture, user, password string) (remote *url.URL, bare string) {
	t.Helper()
	root := t.TempDir()
	bare = filepath.Join(root, "workflows.git")
	InitBare(t, bare)
	work := Init(t)
	Commit(t, work, "Add the fixture workflows", CopyDir(t, fixture, work, ""))
	Git(t, work, "push", "-q", bare, "main")
	remote, err := url.Parse(ServeAuth(t, root, user, password).URL + "/workflows.git")
	if err != nil {
		t.Fatal(err)
	}
	remote.User = url.UserPassword(user, password)
	return remote, bare
}
