package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/term"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/compose"
	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// composeFileNames are the names compose looks for, in its order.
var composeFileNames = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint([]string(*s)) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runImport(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	if len(argv) > 0 && argv[0] == "kubeorch" {
		return runImportKubeOrch(ctx, argv[1:], stdout, stderr)
	}
	if len(argv) == 0 || argv[0] != "compose" {
		return usagef("import: the sources are compose and kubeorch: compiler import compose FILE... | compiler import kubeorch FILE...")
	}
	fs := newFlagSet("import compose", "import compose FILE... | --git URL [--ref REF] [--path DIR] [flags]", stdout)
	name := fs.String("name", "", "workflow name (default: the compose project's name)")
	status := fs.String("status", "draft", "workflow status: draft or published")
	out := fs.String("o", "", "write the workflow to this file instead of standard output")
	report := fs.String("report", "", "write the import report as JSON to this file")
	deployOut := fs.String("deploy-out", "", "also compile the workflow and write its deploy tree into this directory (with --status published, to see what Flux would apply)")
	gitURL := fs.String("git", "", "clone this repository and import its compose file")
	ref := fs.String("ref", "", "with --git: the branch or tag to check out (default: the remote's HEAD)")
	dir := fs.String("path", "", "with --git: the directory of the compose file within the repository")
	var profiles stringList
	fs.Var(&profiles, "profile", "enable the services of a compose profile (repeatable)")
	files, err := parse(fs, argv[1:])
	if err != nil {
		return ignoreHelp(err)
	}
	if *status != "draft" && *status != "published" {
		return usagef("--status must be draft or published, not %q", *status)
	}
	switch {
	case *gitURL != "" && len(files) > 0:
		return usagef("give compose files or --git, not both")
	case *gitURL == "" && len(files) == 0:
		return usagef("give compose files or --git URL")
	}
	opts := compose.Options{Files: files, Name: *name, Status: workflow.Status(*status), Profiles: profiles, Env: os.Environ()}
	if *gitURL != "" {
		tmp, err := os.MkdirTemp("", "slipway-import-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		// The clone's directory is named after the repository: without a
		// name of its own, the project is named after its directory.
		clone := filepath.Join(tmp, repoName(*gitURL))
		f, err := cloneCompose(ctx, *gitURL, *ref, *dir, clone, stderr)
		if err != nil {
			return err
		}
		// The workflow goes where others read it: only the repository's
		// files and its .env may shape it, never this host's.
		opts.Files, opts.Root, opts.Env = []string{f}, clone, nil
	}
	if *deployOut != "" {
		go warmKustomize()
	}
	res, err := compose.Import(ctx, opts)
	if err != nil {
		return err
	}
	if *out == "" {
		if _, err := stdout.Write(res.JSON); err != nil {
			return err
		}
	} else if err := os.WriteFile(*out, res.JSON, 0o644); err != nil {
		return err
	}
	if *deployOut != "" {
		c, err := compiler.New(compiler.DefaultOptions())
		if err != nil {
			return err
		}
		build, err := c.Build(ctx, source.Files{workflow.WorkflowFile(res.Workflow.Name): res.JSON})
		if err != nil {
			return err
		}
		if err := build.Tree.WriteDir(*deployOut); err != nil {
			return err
		}
	}
	if *report != "" {
		f, err := os.Create(*report)
		if err != nil {
			return err
		}
		if err := errors.Join(res.Report.WriteJSON(f), f.Close()); err != nil {
			return err
		}
	}
	c := res.Report.Counts()
	fmt.Fprintf(stderr, "imported %d nodes from %s: %d fields mapped, %d approximated, %d dropped\n",
		len(res.Workflow.Nodes), filepath.Base(opts.Files[0]), c[compose.Mapped], c[compose.Approximated], c[compose.Dropped])
	if *report == "" {
		return res.Report.WriteText(stderr)
	}
	return nil
}

// warmKustomize runs kustomize over an empty kustomization. kustomize
// parses its built-in configuration once per process, on first use, which
// is a tenth of an import's CPU time; run first while the compose files
// load, the deploy tree's check finds it parsed. Errors are the check's to
// report.
func warmKustomize() {
	_, _ = compiler.Tree{"kustomization.yaml": []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")}.Build(".")
}

// repoName is the last element of a repository URL or path without
// .git, or "project" when it has none.
func repoName(url string) string {
	url = strings.TrimRight(url, "/")
	name := strings.TrimSuffix(url[strings.LastIndexAny(url, "/:")+1:], ".git")
	if name == "" || name == "." || name == ".." {
		return "project"
	}
	return name
}

// cloneCompose clones url into dir with go-git and returns the compose
// file it finds in the directory sub. On a terminal it shows git's own
// progress; otherwise one plain line per step.
func cloneCompose(ctx context.Context, url, ref, sub, dir string, stderr io.Writer) (string, error) {
	opts := &git.CloneOptions{URL: url, Depth: 1, SingleBranch: true, Tags: git.NoTags}
	if ref != "" {
		opts.ReferenceName = plumbing.ReferenceName(ref)
		if !plumbing.ReferenceName(ref).IsBranch() && !plumbing.ReferenceName(ref).IsTag() {
			opts.ReferenceName = plumbing.NewBranchReferenceName(ref)
		}
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Progress = stderr
	}
	fmt.Fprintf(stderr, "cloning %s\n", gitrepo.RedactCredentials(url))
	_, err := git.PlainCloneContext(ctx, dir, false, opts)
	if err != nil && ref != "" && errors.Is(err, plumbing.ErrReferenceNotFound) {
		opts.ReferenceName = plumbing.NewTagReferenceName(ref)
		_, err = git.PlainCloneContext(ctx, dir, false, opts)
	}
	if err != nil {
		return "", fmt.Errorf("clone %s: %w", gitrepo.RedactCredentials(url), err)
	}
	for _, n := range composeFileNames {
		p := filepath.Join(dir, sub, n)
		if _, err := os.Stat(p); err == nil {
			fmt.Fprintf(stderr, "found %s\n", filepath.ToSlash(filepath.Join(sub, n)))
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no %v in %q", url, composeFileNames, sub)
}
