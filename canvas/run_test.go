package canvas_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/canvas"
	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/sopsfile/encrypt"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/store"
	"github.com/slipway-gitops/slipway/users"
)

// runService is the canvas API as the service serves it, on a git
// repository of the fixture workflows (cluster prod with sops settings
// for key; shop's workloads api and web with variables given by name
// only, byName) and an embedded etcd, on loopback; log is what it logs.
type runService struct {
	url, dir, token string
	store           *store.Store
	status          *hooks.StatusAPI
	key             *age.X25519Identity
	log             *testutil.Buffer
}

// byName are the variables shop's workloads give by name only, by node
// id, as KubeOrch's editor saves them.
var byName = map[string]string{"api": "DATABASE_URL", "web": "SESSION_KEY"}

// shopByName returns the fixture shop.json with the variables of byName
// added to its workloads.
func shopByName(t *testing.T) []byte {
	t.Helper()
	const fixtures, file = "../fixtures/repo", "workflows/shop.json"
	nodes := testutil.LoadJSON(t, filepath.Join(fixtures, file)).(map[string]any)["nodes"].([]any)
	var patches []testutil.Patch
	for id, name := range byName {
		i := slices.IndexFunc(nodes, func(n any) bool { return n.(map[string]any)["id"] == id })
		keys, _ := nodes[i].(map[string]any)["data"].(map[string]any)["envKeys"].([]any)
		patches = append(patches, testutil.Set(fmt.Sprintf("/nodes/%d/data/envKeys", i), append(keys, map[string]any{"id": "by-name", "name": name})))
	}
	return gittest.FixtureFile(t, fixtures, file, patches...)
}

func serveRun(t *testing.T, events hooks.EventsConfig) *runService {
	t.Helper()
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := gittest.FixtureRepo(t, "../fixtures/repo")
	gittest.Commit(t, dir, "Encrypt prod's secrets", map[string][]byte{
		"clusters/prod.json": gittest.FixtureFile(t, "../fixtures/repo", "clusters/prod.json",
			testutil.Set("/sops", map[string]any{"age": []any{key.Recipient().String()}, "keySecret": "sops-age"})),
		"workflows/sketch.json": gittest.FixtureFile(t, "../fixtures/repo", "workflows/sketch.json", testutil.Set("/status", "draft")),
		"workflows/shop.json":   shopByName(t),
	})
	repo, err := gitrepo.Open(t.Context(), dir, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	accounts, err := users.New(st, users.Options{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Add(t.Context(), "ada@example.com", "Ada Lovelace", "admin", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	session, err := accounts.Login(t.Context(), "ada@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	status, err := hooks.NewStatusAPI(hooks.StatusAPIConfig{Reader: st, Heartbeat: 50 * time.Millisecond, Done: done, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	log := &testutil.Buffer{}
	srv, err := canvas.New(canvas.Options{Source: repo, SourceBranch: "main", Accounts: accounts, Status: status, Signals: st.Queue(),
		Origins: []string{"http://127.0.0.1:3000"}, Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	srv.Register(app.Group(hooks.CanvasPrefix))
	return &runService{url: testutil.ServeApp(t, app) + hooks.CanvasPrefix, dir: dir, token: session.Token, store: st, status: status, key: key, log: log}
}

// call sends a request with the user's token (none when token is "")
// and returns the status and body.
func (s *runService) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signalled returns the revision of the last deploy signal, 0 for none.
func (s *runService) signalled(t *testing.T) int64 {
	t.Helper()
	rev, _, err := s.store.Queue().Signalled(t.Context(), hooks.SignalDeploy)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// secretValues are what the editor's run of the contract carries
// (run.request.json); no commit may hold them.
var secretValues = map[string]string{"stripe": "sk_test_contract", "sendgrid": "SG.contract"}

// envValues are the values of byName's variables, by the key of the
// environment Secret that holds them; no commit may hold them.
var envValues = map[string]string{"api.DATABASE_URL": "postgres://api:Kq8-vW3-env@db/shop", "web.SESSION_KEY": "ses-Zt5-xR2-env"}

// envRequest is the editor's run of the contract with the values of
// every variable given by name only, as the editor sends them: by node
// id and variable name.
func envRequest(t *testing.T) string {
	t.Helper()
	var req map[string]map[string]any
	if err := json.Unmarshal([]byte(runRequest(t)), &req); err != nil {
		t.Fatal(err)
	}
	env := map[string]any{}
	for id, name := range byName {
		env[id] = map[string]string{name: envValues[id+"."+name]}
	}
	req["trigger_data"]["envVars"] = env
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runRequest is the editor's run of the contract.
func runRequest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contractDir, "run.request.json"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secretValues {
		if !bytes.Contains(b, []byte(v)) {
			t.Fatalf("run.request.json does not carry the value of %s the test looks for", k)
		}
	}
	return string(b)
}

// plaintext returns the keys of the secret and environment values that
// text holds, as they are or in base64.
func plaintext(text []byte) []string {
	var found []string
	for _, values := range []map[string]string{secretValues, envValues} {
		for k, v := range values {
			if bytes.Contains(text, []byte(v)) || bytes.Contains(text, []byte(base64.StdEncoding.EncodeToString([]byte(v)))) {
				found = append(found, k)
			}
		}
	}
	return found
}

// noPlaintext fails when any object of the repository in dir, of any
// branch or none, holds a secret or environment value as it is or in
// base64.
func noPlaintext(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", "cat-file", "--batch-all-objects", "--batch", "--unordered")
	cmd.Dir, cmd.Env = dir, gittest.Env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if found := plaintext(out); len(found) > 0 {
		t.Errorf("objects of the repository hold the values of %v", found)
	}
}

// TestRun: a run deploys through the deploy signal a push raises; the
// secret values it carries are committed only encrypted, for the
// cluster's age key, with the user as author and the node naming its
// file; what cannot run is refused, naming the place, with nothing
// committed and nothing deployed.
func TestRun(t *testing.T) {
	t.Parallel()
	svc := serveRun(t, hooks.EventsConfig{})
	head := func() string { return gittest.Git(t, svc.dir, "rev-parse", "main") }
	for _, tc := range []struct {
		name, path, token, body string
		code                    int
		// want is in the answer; commits says whether main moves.
		want    string
		commits bool
	}{
		{"no token", "/workflows/shop/run", "", `{}`, http.StatusUnauthorized, "sign in", false},
		{"an unknown workflow", "/workflows/nope/run", "token", `{}`, http.StatusNotFound, "workflows/nope.json", false},
		{"a draft", "/workflows/sketch/run", "token", `{}`, http.StatusBadRequest, "must be published to run", false},
		{"a key the node does not list", "/workflows/shop/run", "token", `{"trigger_data":{"secrets":{"secret-api":{"twilio":"x"}}}}`,
			http.StatusBadRequest, `"pointer":"/trigger_data/secrets/secret-api/twilio"`, false},
		{"a key of the node left out", "/workflows/shop/run", "token", `{"trigger_data":{"secrets":{"secret-api":{"stripe":"x"}}}}`,
			http.StatusBadRequest, "sendgrid missing", false},
		{"a node that is no secret node", "/workflows/shop/run", "token", `{"trigger_data":{"secrets":{"web":{"stripe":"x"}}}}`,
			http.StatusBadRequest, `"pointer":"/trigger_data/secrets/web"`, false},
		{"a variable the workload does not declare", "/workflows/shop/run", "token", `{"trigger_data":{"envVars":{"api":{"API_KEY":"x"},"web":{"SESSION_KEY":"x"}}}}`,
			http.StatusBadRequest, `"pointer":"/trigger_data/envVars/api/API_KEY"`, false},
		{"a variable the workload gives a value", "/workflows/shop/run", "token", `{"trigger_data":{"envVars":{"api":{"GREETING":"x"}}}}`,
			http.StatusBadRequest, `does not give the variable \"GREETING\" by name only`, false},
		{"a node that is no workload", "/workflows/shop/run", "token", `{"trigger_data":{"envVars":{"svc-api":{"DATABASE_URL":"x"}}}}`,
			http.StatusBadRequest, `"pointer":"/trigger_data/envVars/svc-api"`, false},
		{"an environment value left out", "/workflows/shop/run", "token", `{"trigger_data":{"envVars":{"api":{"DATABASE_URL":"x"}}}}`,
			http.StatusBadRequest, "web.SESSION_KEY missing", false},
		{"a bad secret with environment values", "/workflows/shop/run", "token", `{"trigger_data":{"secrets":{"secret-api":{"stripe":"x"}},"envVars":{"api":{"DATABASE_URL":"x"},"web":{"SESSION_KEY":"x"}}}}`,
			http.StatusBadRequest, "sendgrid missing", false},
		{"no environment values", "/workflows/shop/run", "token", `{"trigger_data":{"envVars":{"api":{}}}}`,
			http.StatusOK, `"status":"running"`, false},
		{"not JSON", "/workflows/shop/run", "token", `{"trigger_data":`, http.StatusBadRequest, "not JSON", false},
		{"nothing to set", "/workflows/shop/run", "token", `{"trigger_data":{"secrets":{},"envVars":{}}}`,
			http.StatusOK, `"status":"running"`, false},
		{"no body", "/workflows/shop/run", "token", ``, http.StatusOK, `"status":"running"`, false},
		{"secret values", "/workflows/shop/run", "token", runRequest(t), http.StatusOK, "encrypted for 1 age key(s) of cluster prod into secrets/shop/api-keys.sops.yaml", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, signal := head(), svc.signalled(t)
			token := strings.Replace(tc.token, "token", svc.token, 1)
			code, body := svc.call(t, http.MethodPost, tc.path, token, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("POST %s = %d %s, want %d with %s", tc.path, code, body, tc.code, tc.want)
			}
			schema := "error"
			if code == http.StatusOK {
				schema = "run"
			}
			meets(t, schema, body)
			if found := plaintext([]byte(body)); len(found) > 0 {
				t.Errorf("the answer holds the values of %v: %s", found, body)
			}
			if moved := head() != before; moved != tc.commits {
				t.Errorf("main moved: %v, want %v", moved, tc.commits)
			}
			if deployed := svc.signalled(t) != signal; deployed != (code == http.StatusOK) {
				t.Errorf("deploy signalled: %v, want %v", deployed, code == http.StatusOK)
			}
			if code == http.StatusOK {
				var r canvas.RunResponse
				if err := json.Unmarshal([]byte(body), &r); err != nil || r.RunID != head() || len(r.Logs) == 0 {
					t.Errorf("answer %s: run_id is not main's head %s (%v)", body, head(), err)
				}
			}
		})
	}
	if got := gittest.Git(t, svc.dir, "log", "-1", "--format=%an <%ae>", "main"); got != "Ada Lovelace <ada@example.com>" {
		t.Errorf("the run's commit is authored by %s, want the user", got)
	}
	file := []byte(gittest.Git(t, svc.dir, "show", "main:secrets/shop/api-keys.sops.yaml"))
	s, err := sopsfile.Parse("secrets/shop/api-keys.sops.yaml", file)
	if err != nil {
		t.Fatalf("the committed file is not an encrypted Secret: %v", err)
	}
	if s.Name != "api-keys" || strings.Join(s.Keys, ",") != "sendgrid,stripe" || !bytes.Contains(file, []byte(svc.key.Recipient().String())) {
		t.Errorf("the file is the Secret %q with keys %v, or not for the cluster's key:\n%s", s.Name, s.Keys, file)
	}
	if wf := gittest.Git(t, svc.dir, "show", "main:workflows/shop.json"); !strings.Contains(wf, `"sopsFile": "secrets/shop/api-keys.sops.yaml"`) {
		t.Errorf("the secret node does not name its file:\n%s", wf)
	}
	// What the run committed passes the build's check of encrypted files:
	// the node names its file, which holds exactly its keys, for the
	// cluster's key.
	files := source.Files{"secrets/shop/api-keys.sops.yaml": file}
	for _, p := range []string{"workflows/shop.json", "clusters/prod.json", "clusters/staging.json"} {
		files[p] = []byte(gittest.Git(t, svc.dir, "show", "main:"+p))
	}
	var loader source.Loader
	repo, err := loader.Load(t.Context(), files)
	if err != nil || len(repo.Invalid) > 0 {
		t.Fatalf("load: %v %v", err, repo.Invalid)
	}
	if problems := sopsfile.Check(files, repo.Workflows, repo.Clusters); problems != nil {
		t.Errorf("the build refuses what the run committed: %v", problems)
	}
	noPlaintext(t, svc.dir)
}

// TestRunEnv: the values of the variables workloads give by name only
// are committed with the secret values in one commit, by the user, only
// encrypted, for the cluster's age key, as the workflow's environment
// Secret, with each value under the key <workload>.<NAME> the workload
// reads; no value reaches git, the answer or the log. It is not
// parallel: it decrypts with the cluster's private key, which SOPS reads
// from the environment.
func TestRunEnv(t *testing.T) {
	svc := serveRun(t, hooks.EventsConfig{})
	before := gittest.Git(t, svc.dir, "rev-parse", "main")
	code, body := svc.call(t, http.MethodPost, "/workflows/shop/run", svc.token, envRequest(t))
	if code != http.StatusOK {
		t.Fatalf("run: %d %s", code, body)
	}
	meets(t, "run", body)
	const file = "secrets/shop/shop-env.sops.yaml"
	if !strings.Contains(body, "Secret shop-env: api.DATABASE_URL, web.SESSION_KEY encrypted for 1 age key(s) of cluster prod into "+file) {
		t.Errorf("the answer does not say what the run encrypted: %s", body)
	}
	if n := gittest.Git(t, svc.dir, "rev-list", "--count", before+"..main"); n != "1" {
		t.Errorf("the run made %s commits, want one", n)
	}
	changed := gittest.Git(t, svc.dir, "show", "--format=%an", "--name-only", "main")
	if want := "Ada Lovelace\n\n" + strings.Join([]string{"secrets/shop/api-keys.sops.yaml", file, "workflows/shop.json"}, "\n"); changed != want {
		t.Errorf("the run's commit is\n%s\nwant\n%s", changed, want)
	}
	enc := []byte(gittest.Git(t, svc.dir, "show", "main:"+file))
	t.Setenv("SOPS_AGE_KEY", svc.key.String())
	s, err := encrypt.Decrypt(file, enc)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "shop-env" || len(s.Data) != len(envValues) {
		t.Errorf("the file is the Secret %q with %d keys", s.Name, len(s.Data))
	}
	for k, v := range envValues {
		if string(s.Data[k]) != v {
			t.Errorf("the Secret's %s is not the value the run gave", k)
		}
	}
	// The build takes what the run committed, and reads each value where
	// the workload's variable does.
	src := source.Files{}
	for _, p := range strings.Fields(gittest.Git(t, svc.dir, "ls-tree", "-r", "--name-only", "main")) {
		src[p] = []byte(gittest.Git(t, svc.dir, "show", "main:"+p) + "\n")
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Build(t.Context(), src)
	if err != nil {
		t.Fatalf("the build refuses what the run committed: %v", err)
	}
	if got := res.Tree["workflows/shop/base/secret-shop-env.yaml"]; !bytes.Equal(got, src[file]) {
		t.Errorf("the base's environment Secret is not the file the run committed:\n%s", got)
	}
	for id, name := range byName {
		d := string(res.Tree["workflows/shop/base/deployment-"+id+".yaml"])
		if !strings.Contains(d, "- name: "+name+"\n          valueFrom:\n            secretKeyRef:\n              key: "+id+"."+name+"\n              name: shop-env\n") {
			t.Errorf("%s does not read %s from shop-env:\n%s", id, name, d)
		}
	}
	noPlaintext(t, svc.dir)
	if found := plaintext([]byte(svc.log.String())); len(found) > 0 {
		t.Errorf("the log holds the values of %v", found)
	}
}

// TestRunConcurrent: runs at once each commit their values or are told
// to retry, never lose another's commit, and leave no plaintext.
func TestRunConcurrent(t *testing.T) {
	t.Parallel()
	svc := serveRun(t, hooks.EventsConfig{})
	body := runRequest(t)
	const runs = 4
	codes := make(chan int, runs)
	for range runs {
		go func() {
			code, _ := svc.call(t, http.MethodPost, "/workflows/shop/run", svc.token, body)
			codes <- code
		}()
	}
	ok := 0
	for range runs {
		switch code := <-codes; code {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("a run answered %d", code)
		}
	}
	if n := strings.Count(gittest.Git(t, svc.dir, "log", "--format=%s", "main"), "Run shop"); n != ok {
		t.Errorf("%d runs succeeded and main has %d of their commits", ok, n)
	}
	noPlaintext(t, svc.dir)
}

// sseEvent is one event of a stream.
type sseEvent struct{ id, event, data string }

// readEvent returns the next event of r, skipping comments.
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var e sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch k, v, _ := strings.Cut(line, ": "); {
		case line == "" && e.event != "":
			return e
		case k == "id":
			e.id = v
		case k == "event":
			e.event = v
		case k == "data":
			e.data = v
		}
	}
}

// openStream opens the workflow's status stream as the editor does: a
// GET with the bearer token, read as it comes.
func (s *runService) openStream(t *testing.T, ctx context.Context, id string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/workflows/"+id+"/status/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", "http://127.0.0.1:3000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}
