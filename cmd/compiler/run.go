package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/slipway-gitops/slipway/internal/ghaction"
	"github.com/slipway-gitops/slipway/workflow"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"build", "validate a workflows repository and write its deploy tree", "build --source DIR --out DIR [flags]", runBuild},
		{"check", "validate a workflows repository without writing anything", "check --source DIR [-o json|github]", runCheck},
		{"versions", "list the versions of a workflow", "versions --source REPO [--ref main] NAME [-o json]", runVersions},
		{"show", "print a version of a workflow", "show --source REPO [--ref main] NAME VERSION", runShow},
		{"compare", "compare two versions of a workflow", "compare --source REPO [--ref main] NAME V1 V2 [-o json]", runCompare},
		{"restore", "commit an old version of a workflow as its newest", "restore --source REPO [--ref main] NAME VERSION", runRestore},
		{"deploy", "compile a branch and commit the result to the deploy branch", "deploy --source REPO [--ref main] [--branch deploy] [--remote URL] [flags]", runDeploy},
		{"import", "import Docker Compose files as a workflow", "import compose FILE... | --git URL [--ref REF] [--path DIR]", runImport},
		{"bootstrap", "print the Flux objects that apply a cluster's deploy directory", "bootstrap --cluster NAME --url URL [--branch deploy]", runBootstrap},
		{"diff", "review the deploy-branch change between two revisions", diffUsage, runDiff},
		{"secret", "encrypt a secret node's values into its SOPS file", secretUsage, secretCommand{os.Stdin}.run},
		{"handover", "hand the fields KubeOrch owns on its workloads to Flux, before Flux adopts them", handoverUsage, runHandover},
	}
}

// run is the whole program: it parses args and runs one subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printHelp(stderr)
		return usagef("no command given")
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		printHelp(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return usagef("unknown command %q", name)
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "compiler renders Slipway workflows into kustomize bases, overlays and Flux Kustomizations.")
	fmt.Fprintln(w, "\nUsage:\n  compiler <command> [flags]\n\nCommands:")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'compiler <command> --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 invalid input or failure, 2 usage error.")
}

// newFlagSet returns a flag set for a subcommand whose --help prints to
// stdout and whose errors are usage errors.
func newFlagSet(name, usage string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: compiler %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a subcommand's flags, which may stand before, between or
// after its arguments, and returns the arguments; errHelp means --help was
// printed.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

var errHelp = errors.New("help printed")

// outputFormat is the -o flag.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }

func (o *outputFormat) Set(s string) error {
	switch s {
	case "text", "json":
		*o = outputFormat(s)
		return nil
	}
	return fmt.Errorf("must be text or json")
}

// reportFormat is the -o flag of the commands that validate a directory:
// outputFormat's formats, and github for GitHub Actions annotations.
type reportFormat string

func (o *reportFormat) String() string { return string(*o) }

func (o *reportFormat) Set(s string) error {
	if s == "github" {
		*o = "github"
		return nil
	}
	f := outputFormat(*o)
	if err := f.Set(s); err != nil {
		return fmt.Errorf("must be text, json or github")
	}
	*o = reportFormat(f)
	return nil
}

// writeAnnotations writes problems as GitHub Actions error annotations at
// the line and column of each offending value of the files under dir,
// which names them as given (GitHub wants paths relative to the root of
// the checkout).
func writeAnnotations(w io.Writer, dir string, problems workflow.Errors) error {
	read := func(file string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, filepath.FromSlash(file))) }
	var b strings.Builder
	for _, a := range ghaction.Annotate(problems, filepath.ToSlash(dir), read) {
		b.WriteString(a.String() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
