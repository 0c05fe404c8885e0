package compose

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// composeFixtures lists the compose files of fixtures/compose.
func composeFixtures(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"compose.yaml", "compose.yml"} {
		m, err := filepath.Glob(filepath.Join("..", "fixtures", "compose", "*", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("found %d compose fixtures, want 20", len(files))
	}
	return files
}

// compile compiles an imported workflow alone, with the default options.
func compile(t *testing.T, res *Result) *compiler.Result {
	t.Helper()
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	build, err := c.Build(t.Context(), source.Files{workflow.WorkflowFile(res.Workflow.Name): res.JSON})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, res.JSON)
	}
	return build
}

// TestImportFixtures imports every fixture, compiles it with kustomize's
// check, and finds each compose service as a workload of its normalized
// name.
func TestImportFixtures(t *testing.T) {
	t.Parallel()
	for _, file := range composeFixtures(t) {
		name := filepath.Base(filepath.Dir(file))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := Import(t.Context(), Options{Files: []string{file}, Status: workflow.StatusPublished})
			if err != nil {
				t.Fatal(err)
			}
			build := compile(t, res)
			workloads := map[string]bool{}
			for _, n := range res.Workflow.Nodes {
				if n.Type.IsWorkload() {
					workloads[n.Name()] = true
				}
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, svc := range composeServices(t, raw) {
				if !workloads[normalize(svc)] {
					t.Errorf("service %s has no workload %s; have %v", svc, normalize(svc), workloads)
				}
			}
			if build.Objects == 0 {
				t.Error("nothing rendered")
			}
		})
	}
}

// composeServices reads the service names of a compose file the simple
// way: the keys indented by two under "services:".
func composeServices(t *testing.T, raw []byte) []string {
	t.Helper()
	var out []string
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "services:"):
			in = true
		case in && len(line) > 0 && line[0] != ' ' && line[0] != '#':
			in = false
		case in && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && strings.HasSuffix(strings.TrimSpace(line), ":"):
			out = append(out, strings.TrimSuffix(strings.TrimSpace(line), ":"))
		}
	}
	return out
}

var update = flag.Bool("update", false, "rewrite golden files")

// importEach imports every fixture, as a draft, in a parallel subtest
// named for it, and runs check on the result.
func importEach(t *testing.T, check func(t *testing.T, name string, res *Result)) {
	for _, file := range composeFixtures(t) {
		name := filepath.Base(filepath.Dir(file))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := Import(t.Context(), Options{Files: []string{file}})
			if err != nil {
				t.Fatal(err)
			}
			check(t, name, res)
		})
	}
}

// TestGoldenReports holds the import report and the workflow of every
// fixture.
func TestGoldenReports(t *testing.T) {
	t.Parallel()
	importEach(t, func(t *testing.T, name string, res *Result) {
		var b bytes.Buffer
		if err := res.Report.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, filepath.Join("testdata", "reports", name+".txt"), b.String())
		checkGolden(t, filepath.Join("testdata", "workflows", name+".json"), string(res.JSON))
	})
}

// checkGolden compares got with the golden file, or rewrites the file
// with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", golden, diff)
	}
}

// TestSecretFilesNeverRead imports compose files whose secrets point at
// files, absent and present: with them present, their marker content must
// appear nowhere in the workflow, the report or the compiled tree.
func TestSecretFilesNeverRead(t *testing.T) {
	t.Parallel()
	const marker = "MARKER-d6f1c0ffee-must-not-leak"
	for _, present := range []bool{false, true} {
		dir := t.TempDir()
		compose := `services:
  app:
    image: nginx:1.27
    ports: ["8080:80"]
    secrets: [api_key, "source_only"]
    environment:
      API_TOKEN: ${API_TOKEN:-` + marker + `}
      DATABASE_URL: postgres://app:` + marker + `@db/app
    env_file: [app.env]
secrets:
  api_key:
    file: ./secrets/api_key.txt
  source_only:
    environment: SOURCE_SECRET
`
		write := func(p, s string) {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("compose.yaml", compose)
		write("app.env", "LOG_LEVEL=debug\nSESSION_SECRET="+marker+"\n")
		if present {
			write("secrets/api_key.txt", marker)
		}
		res, err := Import(t.Context(), Options{Files: []string{filepath.Join(dir, "compose.yaml")}, Env: []string{"SOURCE_SECRET=" + marker}, Status: workflow.StatusPublished})
		if err != nil {
			t.Fatalf("present=%t: %v", present, err)
		}
		var report bytes.Buffer
		if err := res.Report.WriteJSON(&report); err != nil {
			t.Fatal(err)
		}
		build := compile(t, res)
		everything := string(res.JSON) + report.String()
		for _, p := range build.Tree.Paths() {
			everything += string(build.Tree[p])
		}
		if strings.Contains(everything, marker) {
			t.Errorf("present=%t: a secret value reached the output", present)
		}
		for _, want := range []string{`"name": "api-key"`, `"name": "API_TOKEN"`, `"name": "SESSION_SECRET"`, `"name": "DATABASE_URL"`} {
			if !strings.Contains(string(res.JSON), want) {
				t.Errorf("present=%t: workflow lacks %s", present, want)
			}
		}
	}
}

// TestComposeFeatures covers what the fixtures do not: profiles, extends,
// several files, .env interpolation, configs, jobs and cron jobs.
func TestComposeFeatures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": `x-common: &common
  image: busybox:1.36
services:
  web_app:
    <<: *common
    image: nginx:${NGINX_TAG}
    ports: ["80"]
    configs:
      - source: site
        target: /etc/nginx/conf.d/site.conf
    depends_on: [api]
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {memory: 64M}
    labels:
      team: web
      "com.example/weird": "x y"
      "bad key!": "z"
  api:
    extends: {file: base.yaml, service: base}
    expose: ["9000"]
  migrate:
    image: busybox:1.36
    restart: "no"
    command: sh -c "echo 'migrating now'"
  report:
    image: busybox:1.36
    labels: {slipway.schedule: "*/15 * * * *"}
  debug:
    image: busybox:1.36
    profiles: [debug]
configs:
  site:
    content: |
      server { listen 80; }
`,
		"base.yaml":     "services:\n  base:\n    image: ghcr.io/example/api:1.0\n    environment: [MODE=base]\n",
		"override.yaml": "services:\n  api:\n    environment: [MODE=override]\n",
		".env":          "NGINX_TAG=1.27\n",
	}
	for p, s := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Import(t.Context(), Options{Files: []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "override.yaml")}, Name: "Feature_Test"})
	if err != nil {
		t.Fatal(err)
	}
	wf := res.Workflow
	if wf.Name != "feature-test" {
		t.Errorf("name %q", wf.Name)
	}
	kinds := map[string]workflow.Kind{}
	for _, n := range wf.Nodes {
		kinds[n.Name()+"/"+string(n.Type)] = n.Type
	}
	for _, want := range []string{"web-app/deployment", "web-app/service", "api/deployment", "api/service", "migrate/job", "report/cronjob", "site/configmap"} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("no %s; have %v", want, kinds)
		}
	}
	if _, ok := kinds["debug/deployment"]; ok {
		t.Error("a service of a disabled profile was imported")
	}
	web := wf.NodeByID("web-app").Spec.(*workflow.DeploymentData)
	if web.Image != "nginx:1.27" || *web.Replicas != 3 || web.Resources.Limits.CPU != "500m" || web.Resources.Limits.Memory != "256Mi" || web.Resources.Requests.Memory != "64Mi" {
		t.Errorf("web: %+v %+v", web.Container, web.Resources)
	}
	if web.Labels["team"] != "web" || web.Annotations["com.example/weird"] != "x y" {
		t.Errorf("labels %v annotations %v", web.Labels, web.Annotations)
	}
	api := wf.NodeByID("api").Spec.(*workflow.DeploymentData)
	if api.Image != "ghcr.io/example/api:1.0" || api.Env["MODE"] != "override" {
		t.Errorf("api: image %s env %v", api.Image, api.Env)
	}
	migrate := wf.NodeByID("migrate").Spec.(*workflow.JobData)
	if strings.Join(migrate.Args, "|") != "sh|-c|echo 'migrating now'" {
		t.Errorf("migrate args %q", migrate.Args)
	}
	if len(wf.Validated().LinksTo("web-app", workflow.LinkAfter)) != 1 {
		t.Error("web_app does not wait for api")
	}
}

// TestKinds holds the kind decisions: a service is a Job only when nothing
// says it serves, whatever its restart policy.
func TestKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, service string
		want          workflow.Kind
		why           string
	}{
		{"one-shot", `restart: "no"`, workflow.KindJob, `restart "no", and nothing says it serves`},
		{"published ports", "restart: \"no\"\n    ports: [\"8080:80\"]", workflow.KindDeployment, `restart "no", but it publishes ports`},
		{"expose", "restart: \"no\"\n    expose: [\"80\"]", workflow.KindDeployment, "it exposes ports"},
		{"healthcheck", "restart: \"no\"\n    healthcheck: {test: [CMD, \"true\"]}", workflow.KindDeployment, "it has a healthcheck"},
		{"awaited healthy", "restart: \"no\"\n  client:\n    image: busybox\n    depends_on: {app: {condition: service_healthy}}", workflow.KindDeployment, "service client waits for it to be healthy"},
		{"awaited completed", "restart: \"no\"\n  client:\n    image: busybox\n    depends_on: {app: {condition: service_completed_successfully}}", workflow.KindJob, `restart "no"`},
		{"default restart", "", workflow.KindDeployment, "it runs until stopped"},
		{"named volume", `volumes: ["data:/data"]`, workflow.KindStatefulSet, "it mounts the named volume data"},
		{"label over ports", "labels: {slipway.kind: job}\n    ports: [\"80\"]", workflow.KindJob, "the label slipway.kind says so"},
		{"global", "deploy: {mode: global}", workflow.KindDaemonSet, `deploy.mode "global"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "compose.yaml")
			src := "services:\n  app:\n    image: nginx:1.27\n    " + tc.service + "\nvolumes:\n  data: {}\n"
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := Import(t.Context(), Options{Files: []string{file}, Status: workflow.StatusPublished})
			if err != nil {
				t.Fatal(err)
			}
			compile(t, res)
			if got := res.Workflow.NodeByID("app").Type; got != tc.want {
				t.Errorf("kind %s, want %s", got, tc.want)
			}
			why := ""
			for _, e := range res.Report.Entries {
				if e.Field == "services.app" {
					why = e.Detail
				}
			}
			if !strings.Contains(why, tc.why) {
				t.Errorf("reason %q lacks %q", why, tc.why)
			}
		})
	}
}

// TestImportIsDecode checks that the workflow Import validates in Go is
// the workflow its file decodes to: the same specs, warnings and links.
func TestImportIsDecode(t *testing.T) {
	t.Parallel()
	importEach(t, func(t *testing.T, _ string, res *Result) {
		dec, err := workflow.Decode(workflow.WorkflowFile(res.Workflow.Name), res.JSON)
		if err != nil {
			t.Fatal(err)
		}
		for i := range dec.Nodes {
			if diff := cmp.Diff(dec.Nodes[i].Spec, res.Workflow.Nodes[i].Spec); diff != "" {
				t.Errorf("node %q (-decoded +imported):\n%s", dec.Nodes[i].ID, diff)
			}
		}
		if diff := cmp.Diff(dec.Warnings, res.Workflow.Warnings); diff != "" {
			t.Errorf("warnings (-decoded +imported):\n%s", diff)
		}
		type link struct {
			Kind                           workflow.LinkKind
			From, To, PathID, RuleID, Path string
			Edge                           int
			SubPath                        string
			Egress, ReadOnly               bool
		}
		links := func(wf *workflow.Workflow) []link {
			var out []link
			for _, l := range wf.Validated().Links() {
				out = append(out, link{l.Kind, l.From.ID, l.To.ID, l.PathID, l.RuleID, l.MountPath, l.Edge, l.SubPath, l.Egress, l.ReadOnly})
			}
			return out
		}
		if diff := cmp.Diff(links(dec), links(res.Workflow)); diff != "" {
			t.Errorf("links (-decoded +imported):\n%s", diff)
		}
	})
}
