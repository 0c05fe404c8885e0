package main

import (
	"context"
	"io"
	"time"

	"github.com/slipway-gitops/slipway/compiler"
)

func runBootstrap(_ context.Context, args []string, stdout, _ io.Writer) error {
	const usage = "bootstrap --cluster NAME --url URL [--branch deploy] [--secret-ref NAME] [--sync-interval 1m] [--tenancy] [--receiver-secret slipway-receiver] [--alert-url URL --alert-secret NAME] [--service-user slipway-service] [--move-from-namespace NS] [--workflow-sources] [--source-ref slipway] [--flux-namespace slipway]"
	fs := newFlagSet("bootstrap", usage, stdout)
	b := compiler.BootstrapOptions{Branch: "deploy", Interval: time.Minute, ReceiverSecret: "slipway-receiver"}
	fs.StringVar(&b.Cluster, "cluster", "", "the cluster whose directory Flux applies (a clusters/NAME.json, or default)")
	fs.StringVar(&b.URL, "url", "", "the git repository that holds the deploy branch, as Flux reaches it")
	fs.StringVar(&b.Branch, "branch", b.Branch, "the deploy branch")
	fs.StringVar(&b.SecretRef, "secret-ref", "", "a Secret in the Flux namespace with the repository's credentials")
	fs.DurationVar(&b.Interval, "sync-interval", b.Interval, "how often Flux fetches the branch and applies the cluster directory")
	fs.BoolVar(&b.Tenancy, "tenancy", false, "the cluster file sets flux.tenancy: let the cluster Kustomization apply each workflow's account and its RoleBinding to admin")
	fs.StringVar(&b.ReceiverSecret, "receiver-secret", b.ReceiverSecret, "a Secret in the Flux namespace whose key token is the GitHub webhook's secret of a Receiver for push events; empty for no Receiver")
	fs.StringVar(&b.AlertURL, "alert-url", "", "where a generic-hmac Provider posts Flux's events (the service's Flux events URL); empty for no Alert")
	fs.StringVar(&b.AlertSecret, "alert-secret", "", "a Secret in the Flux namespace whose key token signs the alerts; required with --alert-url")
	fs.StringVar(&b.ServiceUser, "service-user", b.ServiceUser, "a user the webhook service's kubeconfig names instead of a token of the account slipway-status-reader (system:serviceaccount:NS:NAME for another account), given the same rights: read what Slipway renders and Flux's objects, never Secrets, and ask Flux to reconcile")
	fs.StringVar(&b.MoveFrom, "move-from-namespace", "", "the namespace Slipway's Flux objects move from: the cluster Kustomization may release and prune the workflows' Kustomizations there")
	fs.BoolVar(&b.WorkflowSources, "workflow-sources", false, "each workflow reads a GitRepository of its own (build and deploy with --workflow-sources BRANCH): the cluster Kustomization completes them with --url and --secret-ref and may create and prune them, and the service may ask any GitRepository in the Flux namespace to fetch")
	opts := compiler.DefaultOptions()
	fs.StringVar(&opts.SourceRefName, "source-ref", opts.SourceRefName, "name of the GitRepository; the same as given to build and deploy")
	fs.StringVar(&opts.SourceRefNamespace, "flux-namespace", opts.SourceRefNamespace, "namespace of Slipway's Flux objects; the same as given to build and deploy")
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
