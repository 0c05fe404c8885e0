package compose

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// choices draws decisions from fuzz input; once the input is used up,
// every decision is the first choice.
type choices struct{ data []byte }

// pick returns a number in [0, n).
func (c *choices) pick(n int) int {
	if len(c.data) == 0 || n <= 1 {
		return 0
	}
	v := int(c.data[0])
	c.data = c.data[1:]
	return v % n
}

// maybe is true about one time in n.
func (c *choices) maybe(n int) bool { return c.pick(n) == 1 }

// one returns one of the values.
func one[T any](c *choices, values ...T) T { return values[c.pick(len(values))] }

// serviceNames are the names generated services take: some normalize to
// the same name, some are long or start with a digit.
var serviceNames = []string{"web", "db", "api_v2", "api-v2", "Worker", "1st", "migrate", "cache.redis", strings.Repeat("very-long-name-", 5), "web-svc", "pvc-data", "secret-api-key", "cm-site"}

// generateProject writes a compose project drawn from c into dir and
// returns its compose file. Every service field the compose specification
// has that the importer reads is drawn, in its short and long forms, with
// values at the edges of what Kubernetes accepts.
func generateProject(t *testing.T, c *choices, dir string) string {
	t.Helper()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.env", "LOG_LEVEL=debug\nAPI_TOKEN=x\n9BAD=1\n")
	write("nginx.conf", "server { listen 80; }\n")
	write("site.conf", "server {}\n")
	if err := os.MkdirAll(filepath.Join(dir, "html"), 0o755); err != nil {
		t.Fatal(err)
	}

	var names []string
	for range 1 + c.pick(4) {
		if name := one(c, serviceNames...); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	services := map[string]any{}
	for _, name := range names {
		services[name] = generateService(c, name, names)
	}
	doc := map[string]any{
		"services": services,
		"volumes":  map[string]any{"data": map[string]any{}, "db_data": map[string]any{}, "shared": map[string]any{}},
		"secrets":  map[string]any{"api_key": map[string]any{"file": "./api_key.txt"}, "from_env": map[string]any{"environment": "FROM_ENV"}, "web_credentials": map[string]any{"file": "./creds.txt"}},
		"configs":  map[string]any{"site": map[string]any{"file": "./site.conf"}, "inline": map[string]any{"content": "a=b\n"}, "missing": map[string]any{"file": "./missing.conf"}},
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	write("compose.yaml", string(out))
	return filepath.Join(dir, "compose.yaml")
}

// generateService draws one service; others are the names of every
// service of the project, for depends_on.
func generateService(c *choices, name string, others []string) map[string]any {
	s := map[string]any{}
	switch c.pick(4) {
	case 0, 1:
		s["image"] = one(c, "nginx:1.27", "postgres:16", "busybox", "ghcr.io/example/app@sha256:"+strings.Repeat("a", 64), "Nginx:Latest", "nginx:", "localhost:5000/app")
	case 2:
		s["build"] = one[any](c, ".", map[string]any{"context": "./app", "dockerfile": "Dockerfile.dev", "target": "prod", "args": map[string]any{"A": "1", "B": nil}})
	default:
		s["image"] = "redis:7"
		s["build"] = "./cache"
	}
	if c.maybe(3) {
		s["restart"] = one(c, "no", "always", "on-failure", "on-failure:3", "unless-stopped")
	}
	if c.maybe(2) {
		s["ports"] = one[any](c,
			[]any{"80"}, []any{"8080:80"}, []any{"53:53/udp"}, []any{"127.0.0.1:8080:80"},
			[]any{"3000-3002:3000-3002"}, []any{80, "80"}, []any{"80/udp", "80/tcp"},
			[]any{map[string]any{"target": 80, "published": "8080", "protocol": "tcp", "mode": "host"}},
			[]any{map[string]any{"target": 9000, "protocol": "sctp"}},
			[]any{"65535:65535"}, []any{"0.0.0.0::80"})
	}
	if c.maybe(3) {
		s["expose"] = one[any](c, []any{"9000"}, []any{"9000", "9000"}, []any{"9000/udp"}, []any{"9000-9001"}, []any{9000})
	}
	if c.maybe(3) {
		s["healthcheck"] = one[any](c,
			map[string]any{"test": []any{"CMD", "true"}, "interval": "10s", "timeout": "500ms", "retries": 3, "start_period": "1m"},
			map[string]any{"test": "curl -f localhost"},
			map[string]any{"test": []any{"CMD-SHELL", "pg_isready"}},
			map[string]any{"test": []any{"NONE"}},
			map[string]any{"disable": true},
			map[string]any{"interval": "0s", "retries": 0, "test": []any{"CMD", "x"}})
	}
	if c.maybe(3) {
		deps := map[string]any{}
		for _, o := range others {
			if o != name && c.maybe(2) {
				deps[o] = map[string]any{"condition": one(c, "service_started", "service_healthy", "service_completed_successfully"), "required": one(c, true, false)}
			}
		}
		if len(deps) > 0 {
			s["depends_on"] = deps
		}
	}
	if c.maybe(3) {
		env := map[string]any{"MODE": "prod", "MULTI": "a\nb", "QUOTE": `"'`}
		for _, k := range []string{"DB_PASSWORD", "DATABASE_URL", "bad-name", "EMPTY", "UNSET"} {
			if c.maybe(2) {
				env[k] = map[string]any{"DB_PASSWORD": "pw", "DATABASE_URL": "postgres://u:p@db/x", "bad-name": "1", "EMPTY": "", "UNSET": nil}[k]
			}
		}
		s["environment"] = env
	}
	if c.maybe(4) {
		s["env_file"] = one[any](c, "app.env", []any{"app.env", map[string]any{"path": "absent.env", "required": false}})
	}
	if c.maybe(3) {
		var vols []any
		for range 1 + c.pick(3) {
			vols = append(vols, one[any](c, "data:/var/lib/data", "db_data:/var/lib/postgresql/data:ro", "shared:/shared",
				"/tmp/anon", "./nginx.conf:/etc/nginx/nginx.conf:ro", "data:/", "shared:/shared:nocopy", "./html:/usr/share/nginx/html", "./absent:/x",
				map[string]any{"type": "tmpfs", "target": "/tmp"}, map[string]any{"type": "volume", "source": "data", "target": "/data"}))
		}
		s["volumes"] = vols
	}
	if c.maybe(4) {
		s["secrets"] = one[any](c, []any{"api_key"}, []any{"from_env", "web_credentials"}, []any{map[string]any{"source": "api_key", "target": "key.txt"}}, []any{map[string]any{"source": "api_key", "target": "/etc/key"}})
	}
	if c.maybe(4) {
		s["configs"] = one[any](c, []any{"site"}, []any{"inline"}, []any{"missing"}, []any{map[string]any{"source": "site", "target": "/etc/nginx/conf.d/site.conf"}})
	}
	if c.maybe(3) {
		labels := map[string]any{}
		switch c.pick(6) {
		case 1:
			labels["slipway.kind"] = one(c, "job", "cronjob", "daemonset", "statefulset", "Deployment", "pod")
		case 2:
			labels["slipway.schedule"] = one(c, "*/5 * * * *", "", "@daily", "not a schedule")
		case 3:
			labels["slipway.service-type"] = one(c, "LoadBalancer", "ExternalName")
		case 4:
			labels["com.example/team"] = "web"
			labels["bad key!"] = "x"
		case 5:
			labels["app.kubernetes.io/name"] = "override"
			labels["long"] = strings.Repeat("v", 70)
		}
		s["labels"] = labels
	}
	if c.maybe(4) {
		deploy := map[string]any{}
		switch c.pick(4) {
		case 0:
			deploy["mode"] = "global"
		case 1:
			deploy["replicas"] = one(c, 0, 1, 3, 100000)
		case 2:
			deploy["resources"] = map[string]any{"limits": map[string]any{"cpus": one(c, "0.5", "0.0001", "2"), "memory": one(c, "256M", "1000", "1g")}, "reservations": map[string]any{"memory": "64M"}}
		default:
			deploy["restart_policy"] = map[string]any{"condition": "none"}
		}
		s["deploy"] = deploy
	}
	if c.maybe(6) {
		s["scale"] = one(c, 0, 2)
	}
	if c.maybe(4) {
		s["entrypoint"] = one[any](c, "/bin/sh -c", []any{"run"})
		s["command"] = one[any](c, `sh -c "echo 'hi there'"`, []any{"--flag", ""})
	}
	if c.maybe(6) {
		s["profiles"] = []any{"debug"}
	}
	if c.maybe(6) {
		s["container_name"] = "fixed-" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		s["network_mode"] = "host"
	}
	return s
}

// FuzzImportGenerated imports compose projects generated from the fuzz
// input; see checkGenerated for the oracle.
func FuzzImportGenerated(f *testing.F) {
	logrus.SetOutput(io.Discard)
	for _, seed := range []string{"", "\x00\x01\x02\x03", "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01", "\x03\x02\x01\x00\x05\x07\x01\x01\x03\x01", strings.Repeat("\x01\x02", 40)} {
		f.Add([]byte(seed))
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkGenerated(t, c, data) })
}

// TestImportGeneratedSweep checks a fixed sweep of generated projects on
// every test run, so that the property holds without fuzzing too.
func TestImportGeneratedSweep(t *testing.T) {
	t.Parallel()
	logrus.SetOutput(io.Discard)
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for seed := range 64 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			data := make([]byte, 96)
			x := uint32(seed)*2654435761 + 1
			for i := range data {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				data[i] = byte(x)
			}
			checkGenerated(t, c, data)
		})
	}
}

// checkGenerated imports the project generated from data. The oracle: the
// import either succeeds and the workflow compiles, or it fails with an
// error that names the compose file; it never makes an invalid workflow.
func checkGenerated(t *testing.T, c *compiler.Compiler, data []byte) {
	file := generateProject(t, &choices{data: data}, t.TempDir())
	res, err := Import(t.Context(), Options{Files: []string{file}, Status: workflow.StatusPublished, Env: []string{"FROM_ENV=x"}})
	if err != nil {
		if strings.Contains(err.Error(), "please report") || !strings.Contains(err.Error(), file) {
			raw, _ := os.ReadFile(file)
			t.Fatalf("import failed without naming a place in the input: %v\n%s", err, raw)
		}
		return
	}
	if _, err := c.Build(t.Context(), source.Files{workflow.WorkflowFile(res.Workflow.Name): res.JSON}); err != nil {
		raw, _ := os.ReadFile(file)
		t.Fatalf("imported workflow does not compile: %v\n%s\n%s", err, raw, res.JSON)
	}
}
