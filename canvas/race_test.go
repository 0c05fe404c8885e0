package canvas_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestSavesWhileReadingARemoteSource saves workflows from several editors
// while others list the clusters and the workflows, on a source cloned
// from a remote that someone else pushes to meanwhile: every request
// fetches into the one clone that all of them read, and some fetches
// bring packs. Each answers 200 and each save is a commit on the remote.
func TestSavesWhileReadingARemoteSource(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	gittest.Git(t, root, "clone", "-q", "--bare", gittest.FixtureRepo(t, "../fixtures/repo"), "workflows.git")
	remote := filepath.Join(root, "workflows.git")
	gittest.Git(t, remote, "config", "http.receivepack", "true")
	source, err := gitrepo.Open(t.Context(), gittest.Serve(t, root).URL+"/workflows.git", gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, remote, func(o *canvas.Options) { o.Source = source })
	f.expect(f.do("POST", "/workflows", f.token, `{"name":"race","cluster_id":"prod"}`), http.StatusCreated, "", nil)

	const editors, saves, readers = 3, 4, 3
	var editing, reading sync.WaitGroup
	done := make(chan struct{})
	for i := range editors {
		editing.Go(func() {
			for j := range saves {
				body := fmt.Sprintf(`{"nodes":[{"id":"n","type":"configmap","position":{"x":%d,"y":%d},"data":{"name":"c","data":{"k":"v"}}}],"edges":[]}`, i, j)
				f.send(t, "POST", "/workflows/race/save", body)
			}
		})
	}
	for i := range readers {
		reading.Go(func() {
			path := []string{"/clusters", "/workflows"}[i%2]
			for {
				f.send(t, "GET", path, "")
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	work := filepath.Join(root, "work")
	gittest.Git(t, root, "clone", "-q", remote, work)
	for i := range 6 {
		gittest.Commit(t, work, "Elsewhere", map[string][]byte{"notes.txt": fmt.Appendf(nil, "push %d\n", i)})
		gittest.Git(t, work, "push", "-q", "origin", "HEAD:refs/heads/elsewhere")
	}
	editing.Wait()
	close(done)
	reading.Wait()
	if got := strings.Count(f.git("log", "--format=%s", "main"), "Save race"); got != editors*saves {
		t.Errorf("%d save commits on the remote, want %d", got, editors*saves)
	}
}

// send sends a request with the fixture's token from any goroutine, and
// reports an answer other than 200 as an error of t.
func (f *fixture) send(t *testing.T, method, path, body string) {
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+"/v1/api"+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
		return
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
}
