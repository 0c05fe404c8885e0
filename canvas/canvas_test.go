package canvas_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/crypto/bcrypt"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/users"
)

// contractDir holds the contract fixtures: what the editor sends, and
// schemas of what it reads.
const contractDir = "../kubeorch/testdata/contract"

const (
	email    = "ada@example.com"
	password = "correct horse battery staple"
)

// fixture is a canvas API served on loopback, on a real etcd and a real
// git repository of the fixture workflows.
type fixture struct {
	t     testing.TB
	url   string
	dir   string
	token string
}

func newFixture(t testing.TB) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith is newFixture with the options changed by opts.
func newFixtureWith(t testing.TB, opts func(*canvas.Options)) *fixture {
	t.Helper()
	return newFixtureOn(t, gittest.FixtureRepo(t, "../fixtures/repo"), opts)
}

// newFixtureOn is newFixtureWith on the repository dir (a path or a
// remote's URL).
func newFixtureOn(t testing.TB, dir string, opts func(*canvas.Options)) *fixture {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo, err := gitrepo.Open(t.Context(), dir, gitrepo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := users.New(st, users.Options{Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Add(t.Context(), email, "Ada Lovelace", "admin", password); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	status, err := hooks.NewStatusAPI(hooks.StatusAPIConfig{Reader: st, Heartbeat: time.Minute, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	o := canvas.Options{Source: repo, SourceBranch: "main", Accounts: accounts, Status: status, Signals: st.Queue()}
	if opts != nil {
		opts(&o)
	}
	s, err := canvas.New(o)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := hooks.NewMetrics(hooks.MetricsConfig{Depth: st.Queue().Depth})
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := hooks.NewReceiver(hooks.ReceiverConfig{Secret: "a webhook secret of some length", Queue: st.Queue(), SourceBranch: "main",
		Log: slog.New(slog.DiscardHandler), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	app, err := hooks.NewApp(hooks.AppConfig{Receiver: receiver, Metrics: metrics, Canvas: s})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, url: testutil.ServeApp(t, app), dir: dir}
	var login canvas.LoginReply
	f.expect(f.do("POST", "/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`), http.StatusOK, "login", &login)
	f.token = login.Token
	return f
}

// answer is a response, read.
type answer struct {
	status int
	body   []byte
	header http.Header
}

// do sends a request to the API with a bearer token (none when empty).
func (f *fixture) do(method, path, token, body string) answer {
	f.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return f.doHeader(method, path, h, body)
}

// doHeader sends a request to the API with headers.
func (f *fixture) doHeader(method, path string, h http.Header, body string) answer {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.url+"/v1/api"+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header}
}

// expect checks an answer's status, checks its body against the
// contract's schema (none when empty) and decodes it into v (when not
// nil).
func (f *fixture) expect(a answer, status int, schema string, v any) {
	f.t.Helper()
	if a.status != status {
		f.t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if schema != "" {
		if err := contract(f.t, schema).Validate(decode(f.t, a.body)); err != nil {
			f.t.Errorf("answer does not meet the contract %s: %v\n%s", schema, err, a.body)
		}
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			f.t.Fatalf("%v: %s", err, a.body)
		}
	}
}

// git runs git in the fixture's repository.
func (f *fixture) git(args ...string) string {
	f.t.Helper()
	return gittest.Git(f.t, f.dir, args...)
}

func decode(t testing.TB, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

var (
	schemasOnce sync.Once
	schemas     map[string]*jsonschema.Schema
	schemasErr  error
)

// contract returns the compiled schema <name>.schema.json of the
// contract fixtures.
func contract(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	schemasOnce.Do(func() {
		paths, err := filepath.Glob(filepath.Join(contractDir, "*.schema.json"))
		if err != nil {
			schemasErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		schemas = map[string]*jsonschema.Schema{}
		for _, p := range paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				schemasErr = err
				return
			}
			s, err := c.Compile(abs)
			if err != nil {
				schemasErr = err
				return
			}
			schemas[strings.TrimSuffix(filepath.Base(p), ".schema.json")] = s
		}
	})
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	s, ok := schemas[name]
	if !ok {
		t.Fatalf("no contract schema %s in %s", name, contractDir)
	}
	return s
}

// request returns a request fixture of the contract.
func request(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contractDir, name+".request.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
