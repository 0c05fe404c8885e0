package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/kubeorch"
	"github.com/slipway-gitops/slipway/workflow"
)

const importKubeOrchUsage = "import kubeorch FILE... [--versions FILE]... (--into REPO [--branch main] | -o FILE) [--cluster NAME] [--report FILE]"

// runImportKubeOrch imports KubeOrch API documents: into a repository as
// one commit per version, or as one workflow file.
func runImportKubeOrch(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import kubeorch", importKubeOrchUsage, stdout)
	var versions stringList
	fs.Var(&versions, "versions", "a file of the workflow's versions, as GET /workflows/:id/versions returns them (repeatable, one per page)")
	into := fs.String("into", "", "commit the workflows into this repository, a path or URL; each version is one commit")
	branch := fs.String("branch", "main", "with --into: the branch to commit to")
	out := fs.String("o", "", "write the workflow (its current canvas) to this file; - for standard output")
	cluster := fs.String("cluster", "", "the cluster file the workflows target (default: the repository's default cluster)")
	report := fs.String("report", "", "write the import report as JSON to this file")
	author := gitrepo.Signature{}
	fs.StringVar(&author.Name, "author-name", "Slipway", "with --into: name on the commits")
	fs.StringVar(&author.Email, "author-email", "slipway@localhost", "with --into: email on the commits")
	files, err := parse(fs, argv)
	if err != nil {
		return ignoreHelp(err)
	}
	switch {
	case len(files) == 0:
		return usagef("give KubeOrch workflow documents: %s", importKubeOrchUsage)
	case (*into == "") == (*out == ""):
		return usagef("give one of --into REPO and -o FILE")
	case *out != "" && len(versions) > 0:
		return usagef("--versions needs --into: versions are commits")
	}
	docs := &kubeorch.Documents{}
	for _, f := range append(files, versions...) {
		d, err := readKubeOrch(f)
		if err != nil {
			return err
		}
		docs.Add(d)
	}
	res, err := kubeorch.Import(docs, kubeorch.Options{Cluster: *cluster})
	if err != nil {
		return err
	}
	if *out != "" {
		if len(res.Files) != 1 {
			return usagef("-o writes one workflow; the inputs hold %d: use --into", len(res.Files))
		}
		if err := writeOut(*out, res.Files[0].Commits[len(res.Files[0].Commits)-1].JSON, stdout); err != nil {
			return err
		}
	} else if err := commitImport(ctx, *into, *branch, author, res, stderr); err != nil {
		return err
	}
	if *report != "" {
		if err := writeFileWith(*report, res.Report.WriteJSON); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "imported %d workflows: %d fields mapped, %d approximated, %d dropped\n", len(res.Files),
		res.Report.Count(kubeorch.Mapped), res.Report.Count(kubeorch.Approximated), res.Report.Count(kubeorch.Dropped))
	if *report == "" {
		return res.Report.WriteText(stderr)
	}
	return nil
}

// readKubeOrch reads and parses one document, at most
// kubeorch.MaxDocumentSize bytes of it (Parse reports a longer one).
func readKubeOrch(name string) (*kubeorch.Documents, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, kubeorch.MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return kubeorch.Parse(name, b)
}

func writeOut(name string, b []byte, stdout io.Writer) error {
	if name == "-" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(name, b, 0o644)
}

// commitImport commits every version of every imported workflow into the
// repository at source, in the order KubeOrch made them, with one update
// of the branch.
func commitImport(ctx context.Context, source, branch string, author gitrepo.Signature, res *kubeorch.Result, stderr io.Writer) error {
	repo, err := gitrepo.Open(ctx, source, gitrepo.Options{})
	if err != nil {
		return err
	}
	var changes []gitrepo.Change
	for _, c := range res.History() {
		changes = append(changes, gitrepo.Change{
			Files: map[string][]byte{workflow.WorkflowFile(c.Name): c.JSON}, Author: author, When: c.Time, Message: c.Message,
		})
	}
	head, err := repo.Append(ctx, branch, changes)
	if errors.Is(err, gitrepo.ErrExists) {
		return fmt.Errorf("%w; the import leaves existing workflows alone: remove the file first, or rename the workflow in KubeOrch", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "committed %d versions to %s, now at %s\n", len(changes), branch, head.Hash.String()[:12])
	return nil
}
