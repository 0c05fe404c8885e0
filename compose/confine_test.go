package compose

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostSecret is in every file outside the project of TestImportConfined.
const hostSecret = "HOST_SECRET_VALUE"

// writeTree writes files under dir; a value starting with "->" makes a
// symbolic link to the rest, one of "fifo" a FIFO.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(strings.TrimPrefix(content, "->"), p)
		case content == "fifo":
			err = syscall.Mkfifo(p, 0o644)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportConfined imports projects that reach for files outside
// their directory, or for files that are not regular: a bind mount is
// dropped, anything else refused with the key that reached it, and no
// byte of the host's files reaches the workflow.
func TestImportConfined(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		compose string
		files   map[string]string // in the project; OUT is the outside directory
		root    string            // Options.Root, when not the project
		// want is in the error; without it, the import succeeds and
		// dropped is the detail of the report's entry for field.
		want, field, dropped string
	}{{
		name:    "bind mount of a host file",
		compose: "services:\n  web:\n    image: nginx\n    volumes: [\"OUT/shadow:/etc/x\"]\n",
		field:   "services.web.volumes[0]", dropped: "outside the project directory",
	}, {
		name:    "bind mount of a link to a kubeconfig",
		compose: "services:\n  web:\n    image: nginx\n    volumes: [\"./kubeconfig:/root/.kube/config\"]\n",
		files:   map[string]string{"kubeconfig": "->OUT/kubeconfig"},
		field:   "services.web.volumes[0]", dropped: "outside the project directory",
	}, {
		name:    "bind mount of a FIFO",
		compose: "services:\n  web:\n    image: nginx\n    volumes: [\"./pipe:/x\"]\n",
		files:   map[string]string{"pipe": "fifo"},
		field:   "services.web.volumes[0]", dropped: "not a regular file",
	}, {
		name:    "env_file outside",
		compose: "services:\n  web:\n    image: nginx\n    env_file: ../outside/outside.env\n",
		want:    "services.web.env_file[0]: " + "OUT/outside.env: outside the project directory",
	}, {
		name:    "env_file through a link",
		compose: "services:\n  web:\n    image: nginx\n    env_file: app.env\n",
		files:   map[string]string{"app.env": "->OUT/outside.env"},
		want:    "services.web.env_file[0]: ",
	}, {
		name:    "env_file a FIFO",
		compose: "services:\n  web:\n    image: nginx\n    env_file: pipe\n",
		files:   map[string]string{"pipe": "fifo"},
		want:    "pipe is not a regular file",
	}, {
		name:    "env_file too large",
		compose: "services:\n  web:\n    image: nginx\n    env_file: big.env\n",
		files:   map[string]string{"big.env": strings.Repeat("A=1\n", maxFile/4+1)},
		want:    "big.env is larger than 1024 KiB",
	}, {
		name:    "config outside",
		compose: "services:\n  web:\n    image: nginx\n    configs: [app]\nconfigs:\n  app:\n    file: ../outside/app.conf\n",
		want:    "configs.app.file: OUT/app.conf: outside the project directory",
	}, {
		name:    "config /dev/zero",
		compose: "services:\n  web:\n    image: nginx\n    configs: [app]\nconfigs:\n  app:\n    file: /dev/zero\n",
		root:    "/",
		want:    "configs.app.file: /dev/zero is not a regular file",
	}, {
		name:    "extends an absolute file",
		compose: "services:\n  web:\n    extends:\n      file: OUT/base.yaml\n      service: base\n",
		want:    "services.web.extends.file: OUT/base.yaml: outside the project directory",
	}, {
		name:    "extends a FIFO",
		compose: "services:\n  web:\n    extends:\n      file: base.yaml\n      service: base\n",
		files:   map[string]string{"base.yaml": "fifo"},
		want:    "services.web.extends.file: PROJECT/base.yaml is not a regular file",
	}, {
		name:    "include outside",
		compose: "include: [../outside/compose.yaml]\nservices:\n  web:\n    image: nginx\n",
		want:    "include[0]: OUT/compose.yaml: outside the project directory",
	}, {
		name:    "include spelled with an escape",
		compose: "\"\\x69nclude\": [../outside/compose.yaml]\nservices:\n  web:\n    image: nginx\n",
		want:    "include[0]: OUT/compose.yaml: outside the project directory",
	}, {
		name:    "include whose .env is a link",
		compose: "include: [sub/compose.yaml]\nservices:\n  web:\n    image: nginx\n",
		files:   map[string]string{"sub/compose.yaml": "services:\n  db:\n    image: postgres\n", "sub/.env": "->OUT/outside.env"},
		want:    "include[0]: PROJECT/sub/.env: outside the project directory",
	}, {
		name:    "extends in an included file",
		compose: "include: [sub/compose.yaml]\nservices:\n  web:\n    image: nginx\n",
		files:   map[string]string{"sub/compose.yaml": "services:\n  db:\n    extends: {file: ../../outside/base.yaml, service: base}\n"},
		want:    "include[0]: PROJECT/sub/compose.yaml: services.db.extends.file: OUT/base.yaml: outside the project directory",
	}, {
		name:    "label_file outside",
		compose: "services:\n  web:\n    image: nginx\n    label_file: ../outside/outside.env\n",
		want:    "services.web.label_file[0]: OUT/outside.env: outside the project directory",
	}, {
		name:    ".env a link",
		compose: "services:\n  web:\n    image: nginx\n    environment: [A=$A]\n",
		files:   map[string]string{".env": "->OUT/outside.env"},
		want:    "PROJECT/.env: outside the project directory",
	}, {
		name:    ".env a FIFO",
		compose: "services:\n  web:\n    image: nginx\n",
		files:   map[string]string{".env": "fifo"},
		want:    "PROJECT/.env is not a regular file",
	}, {
		name:    "compose file a link",
		compose: "->OUT/compose.yaml",
		want:    "compose.yaml: outside the project directory",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			project, out := filepath.Join(base, "project"), filepath.Join(base, "outside")
			expand := strings.NewReplacer("OUT", out, "PROJECT", project).Replace
			writeTree(t, out, map[string]string{
				"shadow":       "root:" + hostSecret + ":19000:0:99999:7:::\n",
				"kubeconfig":   "token: " + hostSecret + "\n",
				"outside.env":  "A=" + hostSecret + "\n",
				"app.conf":     hostSecret + "\n",
				"base.yaml":    "services:\n  base:\n    image: nginx\n    environment: [A=" + hostSecret + "]\n",
				"compose.yaml": "services:\n  host:\n    image: nginx\n    environment: [A=" + hostSecret + "]\n",
			})
			files := map[string]string{"compose.yaml": expand(tt.compose)}
			for k, v := range tt.files {
				files[k] = expand(v)
			}
			writeTree(t, project, files)
			res, err := Import(t.Context(), Options{Files: []string{filepath.Join(project, "compose.yaml")}, Name: "app", Root: tt.root})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), expand(tt.want)) {
					t.Fatalf("error %v, want one with %q", err, expand(tt.want))
				}
				if strings.Contains(err.Error(), hostSecret) {
					t.Errorf("the error shows the host's file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(res.JSON), hostSecret) {
				t.Errorf("the workflow holds the host's file:\n%s", res.JSON)
			}
			for _, e := range res.Report.Entries {
				if e.Field == tt.field {
					if e.Status != Dropped || !strings.Contains(e.Detail, tt.dropped) {
						t.Errorf("%s: %s %q, want dropped with %q", e.Field, e.Status, e.Detail, tt.dropped)
					}
					return
				}
			}
			t.Errorf("no report entry for %s", tt.field)
		})
	}
}

// TestImportConfinedInside imports a project whose env_file, config,
// extends, include and bind mount are its own, some through links and
// ../ that stay inside: all of it is read.
func TestImportConfinedInside(t *testing.T) {
	t.Parallel()
	project := t.TempDir()
	writeTree(t, project, map[string]string{
		"compose.yaml": `include: [sub/compose.yaml]
services:
  web:
    extends: {file: ./common/base.yaml, service: base}
    env_file: [./app.env, linked.env]
    configs: [app]
    volumes: ["./conf/../conf/nginx.conf:/etc/nginx/nginx.conf"]
configs:
  app:
    file: ./conf/app.conf
`,
		"common/base.yaml": "services:\n  base:\n    image: nginx\n    environment: [FROM_BASE=yes]\n",
		"app.env":          "GREETING=hello\n",
		"linked.env":       "->conf/other.env",
		"conf/other.env":   "OTHER=${TAG}\n",
		"conf/app.conf":    "app-config\n",
		"conf/nginx.conf":  "worker_processes 1;\n",
		"sub/compose.yaml": "services:\n  db:\n    image: postgres:${TAG}\n    env_file: ../app.env\n",
		".env":             "TAG=16\n",
	})
	res, err := Import(t.Context(), Options{Files: []string{filepath.Join(project, "compose.yaml")}, Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"FROM_BASE": "yes"`, `"GREETING": "hello"`, `"OTHER": "16"`, "app-config", "worker_processes 1;", `"image": "postgres:16"`} {
		if !strings.Contains(string(res.JSON), want) {
			t.Errorf("workflow lacks %s:\n%s", want, res.JSON)
		}
	}
}

// FuzzConfine resolves relative paths of ../ and symbolic links, some of
// which lead out of the root: a path the confiner accepts is inside the
// root and names the file the path names.
func FuzzConfine(f *testing.F) {
	base := f.TempDir()
	root := filepath.Join(base, "root")
	for name, content := range map[string]string{
		"root/a/b/file": "in",
		"root/up":       "->..",
		"root/out":      "->../outside",
		"root/in":       "->a",
		"root/a/b/top":  "->../..",
		"root/a/abs":    "->" + filepath.Join(base, "outside", "file"),
		"root/a/b/loop": "->loop",
		"outside/file":  "out",
		"outside/back":  "->../root/a",
	} {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			f.Fatal(err)
		}
	}
	c, err := newConfiner(root)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"a/b/file", "../outside/file", "up/outside/file", "up/root/a/b/file", "out/file", "out/back/b/file", "in/b/top/a/b/file", "a/b/top/../outside/file", "a/abs", "a/b/loop", "/etc/passwd", "."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		p := rel
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, rel)
		}
		real, err := c.resolve(p)
		if err != nil {
			return
		}
		if r, err := filepath.Rel(c.root, real); err != nil || !filepath.IsLocal(r) && r != "." {
			t.Fatalf("%q resolved to %s, outside %s", rel, real, c.root)
		}
		want, err1 := os.Stat(p)
		got, err2 := os.Stat(real)
		if err1 != nil || err2 != nil || !os.SameFile(want, got) {
			t.Fatalf("%q resolved to %s, another file (%v, %v)", rel, real, err1, err2)
		}
	})
}

// TestMayReadFiles sees the keys that read files however YAML spells
// them, so that a file without them can go unloaded.
func TestMayReadFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       bool
	}{
		{"none", "services:\n  web:\n    image: nginx\n    env_file: a.env\n", false},
		{"include", "include: [a.yaml]\n", true},
		{"extends", "services:\n  web:\n    extends: {file: a.yaml, service: b}\n", true},
		{"label_file", "services:\n  web:\n    label_file: a\n", true},
		{"escaped key", "\"\\x69nclude\": [a.yaml]\n", true},
		{"block scalar key", "? |-\n  include\n: [a.yaml]\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := mayReadFiles([]byte(tc.yaml)); got != tc.want {
				t.Errorf("mayReadFiles = %v, want %v", got, tc.want)
			}
		})
	}
}
