package main

import (
	"context"
	"io"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
)

func runBootstrap(_ context.Context, args []string, stdout, _ io.Writer) error {
	const usage = "bootstrap --cluster NAME --url URL [--branch deploy] [--secret-ref NAME] [--sync-interval 1m] [--tenancy] [--source-ref slipway] [--flux-namespace flux-system]"
	fs := newFlagSet("bootstrap", usage, stdout)
	b := compiler.BootstrapOptions{Branch: "deploy", Interval: time.Minute}
	fs.StringVar(&b.Cluster, "cluster", "", "the cluster whose directory Flux applies (a clusters/NAME.json, or default)")
	fs.StringVar(&b.URL, "url", "", "the git repository that holds the deploy branch, as Flux reaches it")
	fs.StringVar(&b.Branch, "branch", b.Branch, "the deploy branch")
	fs.StringVar(&b.SecretRef, "secret-ref", "", "a Secret in the Flux namespace with the repository's credentials")
	fs.DurationVar(&b.Interval, "sync-interval", b.Interval, "how often Flux fetches the branch and applies the cluster directory")
	fs.BoolVar(&b.Tenancy, "tenancy", false, "the cluster file sets flux.tenancy: let the cluster Kustomization apply each workflow's account and its RoleBinding to admin")
	opts := compiler.DefaultOptions()
	fs.StringVar(&opts.SourceRefName, "source-ref", opts.SourceRefName, "name of the GitRepository; the same as given to build and deploy")
	fs.StringVar(&opts.SourceRefNamespace, "flux-namespace", opts.SourceRefNamespace, "namespace of the Flux objects; the same as given to build and deploy")
	if _, err := parse(fs, args); err != nil {
		return ignoreHelp(err)
	}
	y, err := compiler.Bootstrap(b, opts)
	if err != nil {
		return usagef("%v", err)
	}
	_, err = stdout.Write(y)
	return err
}
