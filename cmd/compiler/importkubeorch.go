package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/kubeorch"
	"github.com/slipway-gitops/slipway/workflow"
)

const importKubeOrchUsage = "import kubeorch FILE... [--versions FILE]... (--into REPO [--branch main] [--authors FILE] | -o FILE) [--cluster NAME] [--report FILE]"

// runImportKubeOrch imports KubeOrch API documents: into a repository as
// one commit per version, or as one workflow file.
func runImportKubeOrch(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import kubeorch", importKubeOrchUsage, stdout)
	var versions stringList
	fs.Var(&versions, "versions", "a file of the workflow's versions, as GET /workflows/:id/versions returns them (repeatable, one per page)")
	into := fs.String("into", "", "commit the workflows into this repository, a path or URL; each version is one commit")
	branch := fs.String("branch", "main", "with --into: the branch to commit to")
	out := fs.String("o", "", "write the workflow (its current canvas) to this file; - for standard output")
	cluster := fs.String("cluster", "", "the cluster file every workflow targets (default: the one named as KubeOrch's cluster_id, made if missing)")
	report := fs.String("report", "", "write the import report as JSON to this file")
	authors := fs.String("authors", "", "with --into: the authors of KubeOrch's users, a file of lines `user-id = Name <email>`, as git svn's (default: the user id, at "+kubeorch.NoReplyDomain+")")
	importer := gitrepo.Signature{}
	fs.StringVar(&importer.Name, "author-name", "Slipway", "with --into: the committer of every commit, and the author of those KubeOrch names no user for")
	fs.StringVar(&importer.Email, "author-email", "slipway@localhost", "with --into: the committer's email")
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
	case *out != "" && *authors != "":
		return usagef("--authors needs --into: authors are the commits'")
	}
	opts := kubeorch.Options{Cluster: *cluster}
	if *authors != "" {
		b, err := os.ReadFile(*authors)
		if err != nil {
			return err
		}
		if opts.Authors, err = kubeorch.ParseAuthors(*authors, b); err != nil {
			return err
		}
	}
	docs := &kubeorch.Documents{}
	for _, f := range append(files, versions...) {
		d, err := readKubeOrch(f)
		if err != nil {
			return err
		}
		docs.Add(d)
	}
	res, err := kubeorch.Import(docs, opts)
	if err != nil {
		return err
	}
	if *out != "" {
		if len(res.Files) != 1 {
			return usagef("-o writes one workflow; the inputs hold %d: use --into", len(res.Files))
		}
		f := res.Files[0]
		if err := writeOut(*out, f.Commits[len(f.Commits)-1].JSON, stdout); err != nil {
			return err
		}
		if f.Cluster != "" {
			fmt.Fprintf(stderr, "the workflow targets cluster %s: add %s where the repository lacks it\n", f.Cluster, workflow.ClusterFile(f.Cluster))
		}
	} else if err := commitImport(ctx, *into, *branch, importer, res, stderr); err != nil {
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
// repository at source, in the order KubeOrch made them, authored by the
// KubeOrch user who made each and committed by importer, with one update
// of the branch. The cluster files the workflows need and the branch lacks
// come first, in a commit of their own.
func commitImport(ctx context.Context, source, branch string, importer gitrepo.Signature, res *kubeorch.Result, stderr io.Writer) error {
	repo, err := gitrepo.Open(ctx, source, gitrepo.Options{})
	if err != nil {
		return err
	}
	history := res.History()
	var changes []gitrepo.Change
	clusters, err := missingClusters(repo, branch, res)
	if err != nil {
		return err
	}
	if len(clusters) > 0 {
		names := slices.Sorted(maps.Keys(clusters))
		changes = append(changes, gitrepo.Change{
			Files: clusters, Author: importer, When: history[0].Time,
			Message: fmt.Sprintf("Add the clusters KubeOrch ran the imported workflows on\n\n%s\n\nThey hold no credentials: Flux in each cluster pulls the deploy branch.\n", strings.Join(names, "\n")),
		})
		fmt.Fprintf(stderr, "made the cluster files %s\n", strings.Join(names, ", "))
	}
	for _, c := range history {
		author := importer
		if c.Author != (kubeorch.Author{}) {
			author = gitrepo.Signature{Name: c.Author.Name, Email: c.Author.Email}
		}
		changes = append(changes, gitrepo.Change{
			Files: map[string][]byte{workflow.WorkflowFile(c.Name): c.JSON}, Author: author, Committer: importer, When: c.Time, Message: c.Message,
		})
	}
	head, err := repo.Append(ctx, branch, changes)
	if errors.Is(err, gitrepo.ErrExists) {
		return fmt.Errorf("%w; the import leaves existing workflows alone: remove the file first, or rename the workflow in KubeOrch", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "committed %d versions to %s, now at %s\n", len(history), branch, head.Hash.String()[:12])
	return nil
}

// missingClusters returns the cluster files the imported workflows target
// that branch lacks, by path. A repository without cluster files deploys
// every workflow to the default cluster; when the import adds its first
// ones, it also adds that default cluster as a file, for the workflows
// already there and the imported ones without a cluster.
func missingClusters(repo *gitrepo.Repo, branch string, res *kubeorch.Result) (map[string][]byte, error) {
	have := map[string]bool{}
	workflows := 0
	h, err := repo.Branch(branch)
	if err != nil {
		return nil, err
	}
	if !h.IsZero() {
		c, err := repo.Commit(h)
		if err != nil {
			return nil, err
		}
		files, err := repo.Dir(c, workflow.ClustersDir)
		if err != nil {
			return nil, err
		}
		for name := range files {
			if stem, ok := strings.CutSuffix(name, ".json"); ok {
				have[stem] = true
			}
		}
		if files, err = repo.Dir(c, workflow.WorkflowsDir); err != nil {
			return nil, err
		}
		workflows = len(files)
	}
	needDefault := len(have) == 0 && len(res.Clusters) > 0 && (workflows > 0 || slices.ContainsFunc(res.Files, func(f kubeorch.File) bool { return f.Cluster == "" }))
	clusters := res.Clusters
	if needDefault && !slices.ContainsFunc(clusters, func(c workflow.Cluster) bool { return c.Name == workflow.DefaultCluster }) {
		clusters = append(clusters, workflow.Cluster{Name: workflow.DefaultCluster,
			Description: "The cluster of the workflows that name none."})
	}
	out := map[string][]byte{}
	for _, c := range clusters {
		if have[c.Name] {
			continue
		}
		c.Default = needDefault && c.Name == workflow.DefaultCluster
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		out[workflow.ClusterFile(c.Name)] = append(b, '\n')
	}
	return out, nil
}
