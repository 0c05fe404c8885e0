package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-gitops/slipway/kubeorch"
)

// handoverUsage is the hand-over's synopsis.
const handoverUsage = "handover --namespace NS [--kubeconfig PATH] [--context NAME] [--dry-run]"

// handoverHelp says what the hand-over does; the resources it needs are
// added from kubeorch.HandOverResources.
const handoverHelp = `Hands the fields KubeOrch's field manager (` + kubeorch.FieldManager + `) owns on its
Deployments, StatefulSets, DaemonSets and CronJobs (labelled ` + kubeorch.ManagedSelector + `)
in NS to Flux's ` + kubeorch.FluxManager + `, so that Flux's first apply removes what
the workflow no longer draws, such as an environment value now read from a
Secret. It changes no spec, only who owns the fields; a second run changes
nothing. Run it in each namespace KubeOrch deployed to, before Flux adopts
it (docs/kubeorch.md).`

func runHandover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rbac []string
	for _, r := range kubeorch.HandOverResources() {
		rbac = append(rbac, r.GroupResource().String())
	}
	usage := handoverUsage + "\n\n" + handoverHelp + "\n\nIt needs get, list and patch on " + strings.Join(rbac, ", ") + " in NS, nothing else."
	fs := newFlagSet("handover", usage, stdout)
	opts := kubeorch.HandOverOptions{}
	fs.StringVar(&opts.Namespace, "namespace", "", "the namespace KubeOrch deployed to")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the objects whose fields would be handed over, and write nothing")
	kubeconfig := fs.String("kubeconfig", "", "the kubeconfig file (default: $KUBECONFIG, or ~/.kube/config)")
	kubeContext := fs.String("context", "", "the kubeconfig context (default: its current context)")
	rest, err := parse(fs, args)
	if err != nil {
		return ignoreHelp(err)
	}
	if len(rest) > 0 {
		return usagef("handover takes no arguments, got %q", rest)
	}
	if err := opts.Validate(); err != nil {
		return usagef("give the namespace KubeOrch deployed to: --namespace NS")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	verb := "handed"
	if opts.DryRun {
		verb = "would hand"
	}
	opts.Handed = func(object string) {
		fmt.Fprintf(stdout, "%s %s: %s %s's fields to %s\n", opts.Namespace, object, verb, kubeorch.FieldManager, kubeorch.FluxManager)
	}
	n, err := kubeorch.HandOver(ctx, client, opts)
	switch {
	case err != nil:
		return err
	case n == 0:
		fmt.Fprintf(stderr, "nothing to hand over in %s: %s owns no fields of KubeOrch's workloads there\n", opts.Namespace, kubeorch.FieldManager)
	case opts.DryRun:
		fmt.Fprintf(stderr, "dry run: would hand over %d objects in %s; nothing written\n", n, opts.Namespace)
	default:
		fmt.Fprintf(stderr, "handed over %d objects in %s\n", n, opts.Namespace)
	}
	return nil
}
