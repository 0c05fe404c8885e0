package hooks

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-gitops/slipway/internal/testutil"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
)

// getBody GETs url and returns the status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestAPIHidesCredentials opens a remote whose URL carries a password,
// then takes the repository away: /readyz and the 502 answers of the API
// name the remote without the password.
func TestAPIHidesCredentials(t *testing.T) {
	t.Parallel()
	const user, password = "deployer", "s3cret-password-4711"
	u, bare := gittest.AuthRemote(t, "../fixtures/repo", user, password)
	repo, err := gitrepo.Open(t.Context(), u.String(), gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy", Ready: repo.Fetch}))(t).Mount(app)
	base := testutil.ServeApp(t, app)
	if err := os.RemoveAll(bare); err != nil {
		t.Fatal(err)
	}
	shown := user + ":xxxxx@" + u.Host
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/readyz", http.StatusServiceUnavailable},
		{"/api/deploys", http.StatusBadGateway},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			status, body := getBody(t, base+tc.path)
			if status != tc.status || strings.Contains(body, password) || !strings.Contains(body, shown) {
				t.Errorf("%s: %d %s; want %d, naming the remote as %s without the password", tc.path, status, body, tc.status, shown)
			}
		})
	}
}

// countingRemote serves a bare repository over smart HTTP and counts the
// fetches made from it (requests for the upload-pack refs advertisement).
type countingRemote struct {
	url     string
	fetches atomic.Int64
}

func newCountingRemote(t *testing.T) *countingRemote {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "workflows.git")
	gittest.InitBare(t, bare)
	work := gittest.Init(t)
	gittest.Commit(t, work, "Add the fixture workflows", gittest.CopyDir(t, "../fixtures/repo", work, ""))
	gittest.Git(t, work, "push", "-q", bare, "main")
	backend, err := url.Parse(gittest.Serve(t, root).URL)
	if err != nil {
		t.Fatal(err)
	}
	r := &countingRemote{}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/info/refs") && req.URL.Query().Get("service") == "git-upload-pack" {
			r.fetches.Add(1)
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	r.url = front.URL + "/workflows.git"
	return r
}

// TestDeploysFetchShared sends 50 requests for the deploy history at once,
// with no token: together they make one fetch from the deploy remote, not
// one each.
func TestDeploysFetchShared(t *testing.T) {
	t.Parallel()
	remote := newCountingRemote(t)
	repo, err := gitrepo.Open(t.Context(), remote.url, gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy", CheckTTL: time.Hour}))(t).Mount(app)
	base := testutil.ServeApp(t, app)
	remote.fetches.Store(0) // the clone's
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := http.Get(base + "/api/deploys")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /api/deploys: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if got := remote.fetches.Load(); got != 1 {
		t.Errorf("%d requests made %d fetches, want 1", n, got)
	}
}
