package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/slipway-gitops/slipway/build"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/testutil"
	"github.com/slipway-gitops/slipway/store"
)

// apiRepo is where the test's shop workflow builds its api node from.
const apiRepo = "https://github.com/example/shop-api.git"

// TestPushQueuesBuilds checks that a push to any branch queues one job
// that starts its builds, a replayed delivery none, and that pushes to
// the source branch still deploy.
func TestPushQueuesBuilds(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := must(NewMetrics(MetricsConfig{Depth: s.Queue().Depth}))(t)
	receiver := func(builds bool) *Receiver {
		return must(NewReceiver(ReceiverConfig{Secret: secret, Queue: s.Queue(), SourceBranch: "main", Log: slog.New(slog.DiscardHandler), Metrics: m, Builds: builds}))(t)
	}
	const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	release := edit(t, pushes(t)(sha), "ref", "refs/heads/release")
	deliver := func(r *Receiver, id string, body []byte) Reply {
		return r.Receive(t.Context(), Delivery{Event: "push", ID: id, Signature: sign(body), ContentType: "application/json", Length: int64(len(body)), Body: bytes.NewReader(body)})
	}
	if got := deliver(receiver(false), "d0", release); got.Result != "ignored" {
		t.Errorf("builds off: %+v, want ignored", got)
	}
	on := receiver(true)
	got := deliver(on, "d1", release)
	if got.Status != http.StatusAccepted || got.Message != "builds requested" || got.Job == "" {
		t.Fatalf("push to release: %+v", got)
	}
	if again := deliver(on, "d1", release); again.Result != "duplicate" {
		t.Errorf("replay: %+v, want duplicate", again)
	}
	if main := deliver(on, "d2", pushes(t)(sha)); main.Status != http.StatusAccepted || main.Message != "deploy requested" {
		t.Errorf("push to main: %+v, want a deploy", main)
	}
	sess, err := s.NewSession(t.Context(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(t.Context())
	var pushed []build.Push
	for range 2 {
		j, err := s.Queue().Claim(t.Context(), sess, "w")
		if err != nil {
			t.Fatal(err)
		}
		var p build.Push
		if err := json.Unmarshal(j.Payload, &p); j.Kind != JobBuildPush || err != nil {
			t.Fatalf("job %+v: %v", j, err)
		}
		pushed = append(pushed, p)
	}
	if pushed[0].Branch != "release" || pushed[0].Commit != sha || !strings.HasSuffix(pushed[0].URLs[0], ".git") || pushed[1].Branch != "main" {
		t.Errorf("build-push jobs = %+v", pushed)
	}
	if _, err := s.Queue().Claim(t.Context(), sess, "w"); err == nil {
		t.Error("a replayed delivery queued a second job")
	}
}

func TestBuildRoutes(t *testing.T) {
	t.Parallel()
	work := gittest.FixtureRepo(t, "../fixtures/repo")
	gittest.Commit(t, work, "Build the api", map[string][]byte{
		"workflows/shop.json": gittest.FixtureFile(t, "../fixtures/repo", "workflows/shop.json", testutil.Set("/nodes/4/data/build", map[string]any{"repoUrl": apiRepo, "context": "."})),
	})
	repo := must(gitrepo.Open(t.Context(), work, gitrepo.Options{}))(t)
	s := must(store.Open(t.Context(), store.Config{DataDir: t.TempDir()}))(t)
	defer s.Close()
	// The cluster refuses connections: starting and cancelling a build
	// record it, and the builds' loop, not running here, makes the Jobs.
	kube := must(kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"}))(t)
	svc := must(build.NewService(build.ServiceConfig{
		Config: build.Config{Registry: "registry.example.com/team", Namespace: "builds", CloneImage: "git", BuilderImage: "buildkit", PushImage: "crane",
			CPU: "1", Memory: "1Gi", Timeout: time.Minute, Resync: time.Second, PolicyInterval: time.Minute},
		Records: s, Sessions: s, ID: "test", Kube: kube, Source: repo, SourceBranch: "main",
		Deploy: func(context.Context) error { return nil }, Log: slog.New(slog.DiscardHandler),
	}))(t)
	const token = "0123456789abcdef-token"
	api := must(NewAPI(APIConfig{Source: repo, Target: repo, SourceBranch: "main", DeployBranch: "deploy", Tokens: []string{token}, Signals: s.Queue()}))(t)
	app := fiber.New()
	api.MountBuilds(app, svc)
	do := func(method, url, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		json.Unmarshal(b, &v)
		return resp.StatusCode, v
	}
	const commit = "3333333333333333333333333333333333333333"
	start := `{"workflow":"shop","node":"api","commit":"` + commit + `"}`
	if code, _ := do("POST", "/api/builds", "", start); code != http.StatusUnauthorized {
		t.Errorf("start without a token: %d", code)
	}
	code, first := do("POST", "/api/builds", token, start)
	if code != http.StatusCreated || first["status"] != "pending" || first["imageTag"] != commit[:12] {
		t.Fatalf("start: %d %v", code, first)
	}
	id := first["id"].(string)
	if code, again := do("POST", "/api/builds", token, start); code != http.StatusOK || again["id"] != id {
		t.Errorf("start again: %d %v; want 200 and the same build", code, again)
	}
	for _, tt := range []struct {
		name, body string
		want       int
	}{
		{"unknown node", `{"workflow":"shop","node":"nope","commit":"` + commit + `"}`, http.StatusNotFound},
		{"node without a build", `{"workflow":"shop","node":"web","commit":"` + commit + `"}`, http.StatusUnprocessableEntity},
		{"not JSON", `workflow=shop`, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, v := do("POST", "/api/builds", token, tt.body); code != tt.want || v["error"] == "" {
				t.Errorf("%d %v, want %d with an error", code, v, tt.want)
			}
		})
	}
	if code, list := do("GET", "/api/builds", "", ""); code != http.StatusOK || len(list["builds"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, list)
	}
	if code, got := do("GET", "/api/builds/"+id, "", ""); code != http.StatusOK || got["node"] != "api" || got["repoUrl"] != apiRepo {
		t.Errorf("get: %d %v", code, got)
	}
	if code, _ := do("GET", "/api/builds/nope", "", ""); code != http.StatusNotFound {
		t.Errorf("get unknown: %d", code)
	}
	if code, _ := do("DELETE", "/api/builds/"+id, "", ""); code != http.StatusUnauthorized {
		t.Errorf("cancel without a token: %d", code)
	}
	if code, got := do("DELETE", "/api/builds/"+id, token, ""); code != http.StatusOK || got["status"] != "cancelled" {
		t.Errorf("cancel: %d %v", code, got)
	}
	if code, _ := do("POST", "/api/images/scan", "", ""); code != http.StatusUnauthorized {
		t.Errorf("scan without a token: %d", code)
	}
	if code, got := do("POST", "/api/images/scan", token, ""); code != http.StatusOK || len(got["commits"].([]any)) != 0 {
		t.Errorf("scan with no image policy: %d %v", code, got)
	}
	if code, got := do("DELETE", "/api/builds/"+id, token, ""); code != http.StatusConflict || !strings.Contains(got["error"].(string), "ended cancelled already") {
		t.Errorf("cancel again: %d %v", code, got)
	}
}
