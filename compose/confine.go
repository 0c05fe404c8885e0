package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// maxFile bounds every file an import reads but bind mounts: compose
// files, .env and env_file files, label files and configs. A ConfigMap
// holds at most 1 MiB.
const maxFile = 1 << 20

// errOutside is the error of a path that leads out of the directory an
// import may read.
var errOutside = errors.New("outside the project directory: an import reads only the project's files")

// confiner reads the files of an import from one directory only: the
// project directory, or the clone of a repository. Symbolic links are
// resolved before a path is checked, and only regular files of bounded
// size are read, so that neither a link nor a FIFO or device can bring
// the host's files, or an endless read, into a workflow.
type confiner struct {
	// root is the directory, absolute, its symbolic links resolved.
	root string
}

func newConfiner(root string) (*confiner, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("project directory: %w", err)
	}
	return &confiner{root: real}, nil
}

// resolve returns path with its symbolic links resolved, or an error
// wrapping errOutside when it leads out of the root; an error wrapping
// fs.ErrNotExist when there is nothing at path.
func (c *confiner) resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(c.root, real); err != nil || !filepath.IsLocal(rel) && rel != "." {
		return "", fmt.Errorf("%s: %w", path, errOutside)
	}
	return real, nil
}

// stat is os.Stat of a path inside the root.
func (c *confiner) stat(path string) (os.FileInfo, error) {
	real, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	return os.Stat(real)
}

// read returns the content of the regular file at path inside the root,
// of at most limit bytes.
func (c *confiner) read(path string, limit int64) ([]byte, error) {
	real, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	// Checked before opening: opening a FIFO blocks until a writer comes.
	st, err := os.Lstat(real)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	return data, nil
}

// confine returns the confiner of an import: it reads from opts.Root, or
// from the project directory when that is not set. The compose files
// given must be regular files of at most maxFile bytes inside it.
func confine(opts Options) (*confiner, error) {
	root := opts.Root
	if root == "" {
		root = filepath.Dir(opts.Files[0])
	}
	c, err := newConfiner(root)
	if err != nil {
		return nil, err
	}
	for _, f := range opts.Files {
		if _, err := c.read(f, maxFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// follow checks every other file compose-go reads while it loads the
// project of opts: the project's .env and, followed from the compose
// files, the files of include (with their .env and env_file) and of
// extends, and label_file. Each must be a regular file of at most maxFile
// bytes inside the root. Problems name the file and the compose key that
// reached the file, like compose.yaml: services.web.extends.file. The
// files the import reads itself after loading (env_file, configs, bind
// mounts) are read through the confiner as they are mapped.
func (c *confiner) follow(ctx context.Context, opts Options) error {
	dir, err := filepath.Abs(filepath.Dir(opts.Files[0]))
	if err != nil {
		return err
	}
	env := types.NewMapping(opts.Env)
	dotEnv, err := c.envFiles(nil, filepath.Join(dir, ".env"), env)
	if err != nil {
		return err
	}
	env = env.Merge(dotEnv)
	seen := map[string]bool{}
	for _, f := range opts.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		if err := c.checkFile(ctx, abs, dir, env, seen); err != nil {
			return err
		}
	}
	return nil
}

// envFiles reads env files as compose-go does, each interpolated from env
// and the files before it. Without files, it reads dotEnv when it is
// there.
func (c *confiner) envFiles(files []string, dotEnv string, env types.Mapping) (types.Mapping, error) {
	if len(files) == 0 {
		if st, err := os.Stat(dotEnv); err != nil || st.IsDir() {
			return types.Mapping{}, nil
		}
		files = []string{dotEnv}
	}
	vars := types.Mapping{}
	for _, f := range files {
		data, err := c.read(f, maxFile)
		if err != nil {
			return nil, err
		}
		read, err := dotenv.ParseWithLookup(bytes.NewReader(data), func(k string) (string, bool) {
			if v, ok := vars[k]; ok {
				return v, true
			}
			return env.Resolve(k)
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		maps.Copy(vars, read)
	}
	return vars, nil
}

// checkFile checks a compose file and follows what it reads from it.
// Relative paths in it are relative to workingDir, as compose-go has
// them: the project directory for the files given, the directory of an
// extended file, the project directory of an include.
func (c *confiner) checkFile(ctx context.Context, file, workingDir string, env types.Mapping, seen map[string]bool) error {
	key := file + "\x00" + workingDir
	if seen[key] {
		return nil
	}
	seen[key] = true
	data, err := c.read(file, maxFile)
	if err != nil {
		return err
	}
	if !mayReadFiles(data) {
		return nil
	}
	// compose-go resolves paths and interpolates as its load will, but
	// follows nothing: includes and extends are followed here.
	model, err := loader.LoadModelWithContext(ctx, types.ConfigDetails{
		WorkingDir:  workingDir,
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: data}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SkipInclude, o.SkipExtends = true, true
		o.SkipValidation, o.SkipNormalization, o.SkipConsistencyCheck, o.SkipDefaultValues = true, true, true, true
		o.ResolvePaths = true
	})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	at := func(path string, err error) error { return fmt.Errorf("%s: %s: %w", file, path, err) }
	for _, section := range []string{"services", "jobs"} {
		services, _ := model[section].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(services)) {
			s, _ := services[name].(map[string]any)
			field := section + "." + name
			labelFiles, _ := s["label_file"].([]any)
			for i, lf := range labelFiles {
				if p, ok := lf.(string); ok {
					if _, err := c.read(p, maxFile); err != nil {
						return at(fmt.Sprintf("%s.label_file[%d]", field, i), err)
					}
				}
			}
			extends, _ := s["extends"].(map[string]any)
			if p, ok := extends["file"].(string); ok && p != "" {
				if err := c.checkFile(ctx, p, filepath.Dir(p), env, seen); err != nil {
					return at(field+".extends.file", err)
				}
			}
		}
	}
	includes, _ := model["include"].([]any)
	for i, inc := range includes {
		if err := c.checkInclude(ctx, inc, workingDir, env, seen); err != nil {
			return at(fmt.Sprintf("include[%d]", i), err)
		}
	}
	return nil
}

// mayReadFiles reports whether a compose file may have keys that make
// compose-go read other files. Loading the model costs about as much as
// the import; the keys are words in the file, or spelled with escapes in
// a double-quoted key, which need a backslash. Interpolation makes
// values, never keys.
func mayReadFiles(data []byte) bool {
	for _, k := range []string{"include", "extends", "label_file", `\`} {
		if bytes.Contains(data, []byte(k)) {
			return true
		}
	}
	return false
}

// checkInclude checks the files one include entry reads, resolved as
// compose-go's ApplyInclude resolves them.
func (c *confiner) checkInclude(ctx context.Context, inc any, workingDir string, env types.Mapping, seen map[string]bool) error {
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(workingDir, p)
	}
	var paths, envFiles []string
	projectDir := ""
	switch v := inc.(type) {
	case string:
		paths = []string{v}
	case map[string]any:
		paths, envFiles = list(v["path"]), list(v["env_file"])
		projectDir, _ = v["project_directory"].(string)
	}
	if len(paths) == 0 {
		return nil
	}
	for i := range paths {
		paths[i] = abs(paths[i])
	}
	if projectDir == "" {
		projectDir = filepath.Dir(paths[0])
	} else {
		projectDir = abs(projectDir)
	}
	envFiles = slices.DeleteFunc(envFiles, func(f string) bool { return f == os.DevNull })
	for i := range envFiles {
		envFiles[i] = abs(envFiles[i])
	}
	vars, err := c.envFiles(envFiles, filepath.Join(projectDir, ".env"), env)
	if err != nil {
		return err
	}
	env = env.Clone().Merge(vars)
	for _, p := range paths {
		if err := c.checkFile(ctx, p, projectDir, env, seen); err != nil {
			return err
		}
	}
	return nil
}
