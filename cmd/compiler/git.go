package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/deployer"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/english"
	"github.com/slipway-gitops/slipway/internal/ghaction"
	"github.com/slipway-gitops/slipway/review"
	"github.com/slipway-gitops/slipway/source"
)

// repoFlags name a git repository and how to reach it.
type repoFlags struct {
	source   string
	ref      string
	cacheDir string
	author   gitrepo.Signature
	output   outputFormat
}

func (r *repoFlags) bind(fs *flag.FlagSet) {
	r.output = "text"
	fs.StringVar(&r.source, "source", "", "the workflows repository: a local path or a URL (file, http(s), ssh)")
	fs.StringVar(&r.ref, "ref", "main", "the branch (or revision) to read")
	fs.StringVar(&r.cacheDir, "cache-dir", "", "where clones of remote repositories are kept (default: the user cache directory)")
	fs.StringVar(&r.author.Name, "author-name", "Slipway", "name on the commits this command makes")
	fs.StringVar(&r.author.Email, "author-email", "slipway@localhost", "email on the commits this command makes")
	fs.Var(&r.output, "o", "output format: text or json")
}

func (r *repoFlags) open(ctx context.Context) (*gitrepo.Repo, error) {
	if r.source == "" {
		return nil, usagef("--source is required")
	}
	return gitrepo.Open(ctx, r.source, gitrepo.Options{CacheDir: r.cacheDir})
}

// parseRepo parses a command that reads a repository: its flags and the
// positional arguments named by names; then it opens the repository.
func (r *repoFlags) parseRepo(ctx context.Context, fs *flag.FlagSet, argv []string, names ...string) (*gitrepo.Repo, []string, error) {
	pos, err := parse(fs, argv)
	if err != nil {
		return nil, nil, err
	}
	if err := args(pos, names...); err != nil {
		return nil, nil, err
	}
	repo, err := r.open(ctx)
	return repo, pos, err
}

// parseNameVersion parses a command whose arguments are NAME VERSION.
func (r *repoFlags) parseNameVersion(ctx context.Context, fs *flag.FlagSet, argv []string) (*gitrepo.Repo, string, int, error) {
	repo, pos, err := r.parseRepo(ctx, fs, argv, "NAME", "VERSION")
	if err != nil {
		return nil, "", 0, err
	}
	n, err := version(pos[1])
	return repo, pos[0], n, err
}

// args checks the number of positional arguments.
func args(got []string, names ...string) error {
	if len(got) != len(names) {
		return usagef("want %d arguments (%v), got %d", len(names), names, len(got))
	}
	return nil
}

func version(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, usagef("version %q must be a number from 1", s)
	}
	return n, nil
}

func runVersions(ctx context.Context, argv []string, stdout, _ io.Writer) error {
	fs := newFlagSet("versions", "versions --source REPO [--ref main] NAME [-o json]", stdout)
	var rf repoFlags
	rf.bind(fs)
	repo, pos, err := rf.parseRepo(ctx, fs, argv, "NAME")
	if err != nil {
		return ignoreHelp(err)
	}
	vs, err := repo.Versions(ctx, rf.ref, pos[0])
	if err != nil {
		return err
	}
	if rf.output == "json" {
		return writeJSON(stdout, vs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCOMMIT\tTIME\tAUTHOR\tMESSAGE")
	for _, v := range vs {
		subject, _, _ := strings.Cut(v.Message, "\n")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", v.Number, v.Commit[:12], v.Time.Format("2006-01-02 15:04"), v.Author, subject)
	}
	return tw.Flush()
}

func runShow(ctx context.Context, argv []string, stdout, _ io.Writer) error {
	fs := newFlagSet("show", "show --source REPO [--ref main] NAME VERSION", stdout)
	var rf repoFlags
	rf.bind(fs)
	repo, name, n, err := rf.parseNameVersion(ctx, fs, argv)
	if err != nil {
		return ignoreHelp(err)
	}
	b, _, err := repo.Show(ctx, rf.ref, name, n)
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}

func runCompare(ctx context.Context, argv []string, stdout, _ io.Writer) error {
	fs := newFlagSet("compare", "compare --source REPO [--ref main] NAME V1 V2 [-o json]", stdout)
	var rf repoFlags
	rf.bind(fs)
	repo, pos, err := rf.parseRepo(ctx, fs, argv, "NAME", "V1", "V2")
	if err != nil {
		return ignoreHelp(err)
	}
	v1, err := version(pos[1])
	if err != nil {
		return err
	}
	v2, err := version(pos[2])
	if err != nil {
		return err
	}
	d, err := repo.Compare(ctx, rf.ref, pos[0], v1, v2)
	if err != nil {
		return err
	}
	if rf.output == "json" {
		return writeJSON(stdout, d)
	}
	lines := review.GraphLines(d)
	if len(lines) == 0 {
		fmt.Fprintf(stdout, "versions %d and %d of %s have the same graph\n", v1, v2, pos[0])
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return nil
}

func runRestore(ctx context.Context, argv []string, stdout, _ io.Writer) error {
	fs := newFlagSet("restore", "restore --source REPO [--ref main] NAME VERSION", stdout)
	var rf repoFlags
	rf.bind(fs)
	repo, name, n, err := rf.parseNameVersion(ctx, fs, argv)
	if err != nil {
		return ignoreHelp(err)
	}
	c, err := repo.Restore(ctx, rf.ref, name, n, rf.author)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s to version %d as commit %s on %s\n", name, n, c.Hash.String()[:12], rf.ref)
	return nil
}

func runDeploy(ctx context.Context, argv []string, stdout, _ io.Writer) error {
	fs := newFlagSet("deploy", "deploy --source REPO [--ref main] [--branch deploy] [--remote URL] [flags]", stdout)
	var rf repoFlags
	rf.bind(fs)
	branch := fs.String("branch", "deploy", "the deploy branch Flux reads")
	remote := fs.String("remote", "", "the repository of the deploy branch, a path or URL (default: the source repository)")
	opts := compiler.DefaultOptions()
	opts.BindFlags(fs)
	pos, err := parse(fs, argv)
	if err != nil {
		return ignoreHelp(err)
	}
	if err := args(pos); err != nil {
		return err
	}
	if opts.WorkflowSources != "" && opts.WorkflowSources != *branch {
		return usagef("--workflow-sources %q: the workflows' sources follow the deploy branch, --branch %q", opts.WorkflowSources, *branch)
	}
	c, err := compiler.New(opts)
	if err != nil {
		return usagef("%v", err)
	}
	source, err := rf.open(ctx)
	if err != nil {
		return err
	}
	target := source
	if *remote != "" && *remote != rf.source {
		if target, err = gitrepo.Open(ctx, *remote, gitrepo.Options{CacheDir: rf.cacheDir}); err != nil {
			return err
		}
	}
	d, err := deployer.New(source, target, c, deployer.Options{SourceBranch: rf.ref, Branch: *branch, Author: rf.author,
		WorkflowSources: opts.WorkflowSources != ""})
	if err != nil {
		return usagef("%v", err)
	}
	res, err := d.Deploy(ctx)
	if err != nil {
		return err
	}
	if rf.output == "json" {
		return writeJSON(stdout, res)
	}
	if !res.Committed {
		fmt.Fprintf(stdout, "%s is up to date with %s (%s)\n", *branch, rf.ref, res.SourceCommit[:12])
		return nil
	}
	fmt.Fprintf(stdout, "deployed %s (%s) as %s on %s: %s\n", rf.ref, res.SourceCommit[:12], res.DeployCommit[:12], *branch, english.Plural(res.Build.Objects, "object"))
	return nil
}

// diffFormat is the --format flag of diff.
type diffFormat string

func (f *diffFormat) String() string { return string(*f) }

func (f *diffFormat) Set(s string) error {
	switch s {
	case "text", "markdown", "json":
		*f = diffFormat(s)
		return nil
	}
	return fmt.Errorf("must be text, markdown or json")
}

func runDiff(ctx context.Context, argv []string, stdout, _ io.Writer) error {
	fs := newFlagSet("diff", diffUsage, stdout)
	var rf repoFlags
	rf.bind(fs)
	base := fs.String("base", "", "the revision to compare from (a pull request's base)")
	head := fs.String("head", "", "the revision to compare to (a pull request's head)")
	format := diffFormat("text")
	fs.Var(&format, "format", "output format: text, markdown (within 60 KB, for a pull-request comment) or json")
	diffFile := fs.String("diff-file", "", "also write the whole review as text, without a size bound, to this file")
	outputs := fs.String("outputs", "", "append what changed as GitHub Actions step outputs to this file (such as $GITHUB_OUTPUT)")
	exitCode := fs.Bool("exit-code", false, "exit 1 when the deploy branch would change, as git diff --exit-code does")
	annotations := fs.String("annotations", "", "also write what merging does as GitHub Actions warnings at the places in the head's workflow files, to this file")
	var failOn kindsFlag
	fs.Var(&failOn, "fail-on", "exit 1 when merging does one of these comma-separated kinds of thing: "+kindNames())
	dir := fs.String("path", "", "the directory of the repository that holds workflows/ and clusters/ (default: its root)")
	pos, err := parse(fs, argv)
	if err != nil {
		return ignoreHelp(err)
	}
	if err := args(pos); err != nil {
		return err
	}
	if *base == "" || *head == "" {
		return usagef("--base and --head are required")
	}
	if rf.output == "json" {
		format = "json"
	}
	repo, err := rf.open(ctx)
	if err != nil {
		return err
	}
	read := func(rev string) (source.Files, string, error) {
		c, err := repo.Resolve(rev)
		if err != nil {
			return nil, "", err
		}
		src, err := repo.SourceAt(c, *dir)
		return src, c.Hash.String()[:12], err
	}
	baseSrc, baseID, err := read(*base)
	if err != nil {
		return err
	}
	headSrc, headID, err := read(*head)
	if err != nil {
		return err
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		return err
	}
	r, err := review.Compare(ctx, c, baseID, headID, baseSrc, headSrc)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		err = r.WriteJSON(stdout)
	case "markdown":
		err = r.WriteMarkdown(stdout, review.MarkdownBudget)
	default:
		err = r.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if *diffFile != "" {
		if err := writeFileWith(*diffFile, r.WriteText); err != nil {
			return err
		}
	}
	if *annotations != "" {
		if err := writeFileWith(*annotations, func(w io.Writer) error { return writeConsequences(w, *dir, headSrc, r.Consequences) }); err != nil {
			return err
		}
	}
	if *outputs != "" {
		if err := appendOutputs(*outputs, r, *diffFile); err != nil {
			return err
		}
	}
	switch {
	case len(r.Problems) > 0:
		return &reportedError{err: r.Problems}
	case *exitCode && len(r.Workflows) > 0:
		return &reportedError{err: errors.New("the deploy branch would change")}
	}
	var failing []string
	for _, c := range r.Consequences {
		if slices.Contains(failOn, c.Kind) {
			failing = append(failing, fmt.Sprintf("%s [%s]", c.Message, c.Kind))
		}
	}
	if len(failing) > 0 {
		return fmt.Errorf("merging has %s of the kinds --fail-on names:\n  %s", english.Plural(len(failing), "consequence"), strings.Join(failing, "\n  "))
	}
	return nil
}

const diffUsage = "diff --source REPO [--path DIR] --base REF --head REF [--format text|markdown|json] [--diff-file FILE] [--outputs FILE] [--annotations FILE] [--exit-code] [--fail-on KINDS]"

// kindsFlag is the --fail-on flag of diff: kinds of consequence.
type kindsFlag []review.ConsequenceKind

func (k *kindsFlag) String() string { return fmt.Sprint([]review.ConsequenceKind(*k)) }

func (k *kindsFlag) Set(s string) error {
	*k = nil
	for name := range strings.SplitSeq(s, ",") {
		kind := review.ConsequenceKind(strings.TrimSpace(name))
		if kind == "" {
			continue
		}
		if !slices.Contains(review.ConsequenceKinds(), kind) {
			return fmt.Errorf("%q is not a kind of consequence: want %s", kind, kindNames())
		}
		*k = append(*k, kind)
	}
	return nil
}

// kindNames lists the kinds of consequence for people.
func kindNames() string {
	var names []string
	for _, k := range review.ConsequenceKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// writeConsequences writes consequences as GitHub Actions warnings at
// their places in the head's workflow files; dir is the repository's
// directory in the checkout (--path).
func writeConsequences(w io.Writer, dir string, head source.Files, cs []review.Consequence) error {
	l := ghaction.NewLocator(path.Join(".", dir), func(file string) ([]byte, error) {
		if b, ok := head[file]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	})
	var b strings.Builder
	for _, c := range cs {
		a := ghaction.Annotation{Level: ghaction.Warning, Title: "slipway: " + string(c.Kind), Message: c.Message}
		if c.NodeID != "" {
			a.Title += fmt.Sprintf(" (node %q)", c.NodeID)
		}
		if c.File != "" {
			a.File, a.Line, a.Column = l.Locate(c.File, c.Pointer)
		}
		b.WriteString(a.String() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFileWith writes a file with what write writes, or leaves no file.
func writeFileWith(name string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the review: %w", err)
	}
	return nil
}

// appendOutputs appends the review's step outputs to the file name:
// changed-workflows (comma-separated), objects-added, objects-changed,
// objects-removed, consequences (a JSON array) and, when one was written,
// diff-file.
func appendOutputs(name string, r *review.Review, diffFile string) error {
	var b bytes.Buffer
	cs, err := json.Marshal(r.Consequences)
	if err != nil {
		return fmt.Errorf("step outputs: %w", err)
	}
	outs := [][2]string{
		{"changed-workflows", strings.Join(r.ChangedWorkflows(), ",")},
		{"objects-added", strconv.Itoa(r.Summary.ObjectsAdded)},
		{"objects-changed", strconv.Itoa(r.Summary.ObjectsModified)},
		{"objects-removed", strconv.Itoa(r.Summary.ObjectsRemoved)},
		{"consequences", string(cs)},
	}
	if diffFile != "" {
		outs = append(outs, [2]string{"diff-file", diffFile})
	}
	for _, o := range outs {
		if err := ghaction.WriteOutput(&b, o[0], o[1]); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("step outputs: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("step outputs: %w", err)
	}
	return nil
}
