package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/internal/english"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// sourceFlags are the flags that name a workflows repository.
type sourceFlags struct {
	dir    string
	output reportFormat
}

func (s *sourceFlags) bind(fs *flag.FlagSet) {
	s.output = "text"
	fs.StringVar(&s.dir, "source", "", "the workflows repository: a directory with workflows/ and clusters/")
	fs.Var(&s.output, "o", "output format: text, json, or github (problems as GitHub Actions annotations)")
}

// compile validates and renders the repository.
func (s *sourceFlags) compile(ctx context.Context, opts compiler.Options) (*compiler.Result, error) {
	if s.dir == "" {
		return nil, usagef("--source is required")
	}
	src, err := source.ReadDir(os.DirFS(s.dir))
	if err != nil {
		return nil, err
	}
	c, err := compiler.New(opts)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c.Build(ctx, src)
}

// report writes a build's problems as JSON or as annotations when -o
// asks for it.
func (s *sourceFlags) report(stdout io.Writer, err error) error {
	problems := workflow.AsErrors(err)
	if s.output == "text" || problems == nil {
		return err
	}
	var werr error
	if s.output == "github" {
		werr = writeAnnotations(stdout, s.dir, problems)
	} else {
		werr = writeJSON(stdout, map[string]any{"valid": false, "errors": problems})
	}
	if werr != nil {
		return errors.Join(err, werr)
	}
	return &reportedError{err: err}
}

func runBuild(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("build", "build --source DIR --out DIR [flags]", stdout)
	var src sourceFlags
	src.bind(fs)
	out := fs.String("out", "", "directory to write the deploy tree into (its clusters/ and workflows/ are replaced)")
	opts := compiler.DefaultOptions()
	opts.BindFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return ignoreHelp(err)
	}
	if *out == "" {
		return usagef("--out is required")
	}
	if err := outsideSource(*out, src.dir); err != nil {
		return err
	}
	res, err := src.compile(ctx, opts)
	if err != nil {
		return src.report(stdout, err)
	}
	if err := res.Tree.WriteDir(*out); err != nil {
		return err
	}
	if src.output == "json" {
		return writeJSON(stdout, struct {
			Valid bool `json:"valid"`
			*compiler.Result
			Files []string `json:"files"`
		}{true, res, res.Tree.Paths()})
	}
	published := 0
	for _, w := range res.Workflows {
		if w.Status == workflow.StatusPublished {
			published++
		}
	}
	fmt.Fprintf(stdout, "built %s of %s for %s: %s in %s under %s\n",
		english.Plural(published, "published workflow"), english.Plural(len(res.Workflows), "workflow"),
		english.Plural(len(res.Clusters), "cluster"), english.Plural(res.Objects, "object"), english.Plural(len(res.Tree), "file"), *out)
	return nil
}

// outsideSource refuses an output directory whose replaced directories
// (clusters/ and workflows/) would be, hold or sit inside the source's:
// writing the deploy tree would delete the files it is built from.
func outsideSource(out, source string) error {
	if source == "" {
		return nil // compile says that --source is required
	}
	o, s := realPath(out), realPath(source)
	for _, od := range []string{workflow.WorkflowsDir, workflow.ClustersDir} {
		for _, sd := range []string{workflow.WorkflowsDir, workflow.ClustersDir} {
			o, s := filepath.Join(o, od), filepath.Join(s, sd)
			if within(o, s) || within(s, o) {
				return usagef("--out %s would replace %s of --source %s: write the deploy tree outside the source's %s and %s directories",
					out, sd, source, workflow.WorkflowsDir, workflow.ClustersDir)
			}
		}
	}
	return nil
}

// realPath returns p absolute, with the symbolic links of its longest
// existing prefix resolved.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	var rest []string
	for dir := abs; ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		if dir == filepath.Dir(dir) {
			return abs
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
	}
}

// within reports whether path p is dir or inside it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func runCheck(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("check", "check --source DIR [-o json|github]", stdout)
	var src sourceFlags
	src.bind(fs)
	if _, err := parse(fs, args); err != nil {
		return ignoreHelp(err)
	}
	res, err := src.compile(ctx, compiler.DefaultOptions())
	if err != nil {
		return src.report(stdout, err)
	}
	if src.output == "json" {
		return writeJSON(stdout, struct {
			Valid bool `json:"valid"`
			*compiler.Result
		}{true, res})
	}
	for _, w := range res.Workflows {
		for _, e := range w.Warnings {
			fmt.Fprintf(stdout, "warning: %v\n", e)
		}
		if len(w.Ignored) > 0 {
			fmt.Fprintf(stdout, "%s: ignored %s of editor or run-time state (-o json lists them)\n", workflow.WorkflowFile(w.Name), english.Plural(len(w.Ignored), "key"))
		}
	}
	fmt.Fprintf(stdout, "valid: %s on %s, %s rendered and checked with kustomize\n",
		english.Plural(len(res.Workflows), "workflow"), english.Plural(len(res.Clusters), "cluster"), english.Plural(res.Objects, "object"))
	return nil
}

func ignoreHelp(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
