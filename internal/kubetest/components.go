package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
)

// Asset files that make kube-tools puts beside the binaries.
const (
	kwokStages = "kwok-stages.yaml"
	fluxCRDs   = "flux-crds.yaml"
)

// startKwok starts kwok, without the server of its own that would serve
// pods' logs and exec, which no test reads, and registers its fake node.
func (s *Stack) startKwok(ctx context.Context) error {
	s.logf("starting kwok")
	builds, err := s.writeBuildStages()
	if err != nil {
		return err
	}
	if err := s.start("kwok", nil, "--kubeconfig", s.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "-c", filepath.Join(s.opts.BinDir, kwokStages), "-c", builds,
		// The node's heartbeat is a Lease, as a kubelet's is: without one kwok
		// does not renew the node's status, the node lifecycle controller marks
		// it NotReady every node-monitor-grace-period (50 s), and the pods
		// on it unready with it, so any test longer than that sees its
		// workloads go unavailable.
		"--node-lease-duration-seconds", "40",
		"--node-ip", "127.0.0.1"); err != nil {
		return err
	}
	if _, err := s.Client.CoreV1().Nodes().Create(ctx, fakeNode(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kube stack: create node: %w", err)
	}
	// kwok marks its node Ready; the default service account, which pods
	// need, comes from the controller-manager. Wait for both so that tests
	// need not.
	err = poll(ctx, 60*time.Second, func() (bool, error) {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, fakeNode().Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				_, err := s.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
				return err == nil, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return s.failed("kwok", fmt.Errorf("node not Ready: %w", err))
	}
	return nil
}

// startFlux installs Flux's CRDs and starts its controllers.
func (s *Stack) startFlux(ctx context.Context) error {
	s.logf("installing Flux CRDs and starting source-controller and kustomize-controller")
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	crds, err := os.ReadFile(filepath.Join(s.opts.BinDir, fluxCRDs))
	if err != nil {
		return fmt.Errorf("kube stack: %w (run make kube-tools)", err)
	}
	if err := s.Apply(ctx, crds); err != nil {
		return fmt.Errorf("kube stack: flux CRDs: %w", err)
	}
	// The controllers map their kinds once, at start, and exit if
	// discovery does not serve them yet.
	if err := s.waitServed(ctx, crds); err != nil {
		return fmt.Errorf("kube stack: flux CRDs: %w", err)
	}
	// Each stack's controllers get a temporary directory of their own: in
	// the shared /tmp, while other stacks ran on the machine, this one's
	// build directories went missing mid-build ("kustomization path not
	// found"), and Flux retried a minute later.
	tmp := filepath.Join(s.Dir, "tmp")
	env := []string{"RUNTIME_NAMESPACE=flux-system", "KUBECONFIG=" + s.Kubeconfig, "TMPDIR=" + tmp}
	for _, dir := range []string{filepath.Join(s.Dir, "artifacts"), tmp} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	// Neither serves metrics ("0"): no test reads them, and a port
	// the stack does not reserve cannot be taken from it.
	err = s.startOnFreePorts("source-controller", 2, func(ports []int) error {
		storage := fmt.Sprintf("127.0.0.1:%d", ports[0])
		args := append([]string{"--storage-path", filepath.Join(s.Dir, "artifacts"),
			"--storage-addr", storage, "--storage-adv-addr", storage,
			"--metrics-addr", "0", "--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
			"--enable-leader-election=false", "--events-addr", ""}, s.opts.SourceControllerArgs...)
		return s.startServing(ctx, "source-controller", env, args, ports[1])
	})
	if err != nil {
		return err
	}
	// Dependencies are checked again every 5 s, not 30 s: tests wait less.
	return s.startOnFreePorts("kustomize-controller", 1, func(ports []int) error {
		args := append([]string{"--metrics-addr", "0", "--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
			"--enable-leader-election=false", "--events-addr", "", "--requeue-dependency", "5s"}, s.opts.KustomizeControllerArgs...)
		return s.startServing(ctx, "kustomize-controller", env, args, ports[0])
	})
}

// startServing starts a Flux controller and waits until its health
// endpoint, on port, reports it ready.
func (s *Stack) startServing(ctx context.Context, name string, env, args []string, port int) error {
	if err := s.start(name, env, args...); err != nil {
		return err
	}
	return s.waitServing(ctx, name, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 60*time.Second)
}

// waitServed waits until discovery, as controllers read it at start,
// serves every served version of each CustomResourceDefinition in
// manifests.
func (s *Stack) waitServed(ctx context.Context, manifests []byte) error {
	objs, err := Objects(manifests)
	if err != nil {
		return err
	}
	want := map[string]bool{} // group/version/plural
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
		for _, v := range versions {
			if v, _ := v.(map[string]any); v["served"] == true {
				want[fmt.Sprintf("%s/%v/%s", group, v["name"], plural)] = true
			}
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(s.Config)
	if err != nil {
		return err
	}
	var missing []string
	err = poll(ctx, 60*time.Second, func() (bool, error) {
		// A partial answer lists what is served; what is not is missing.
		_, lists, _ := dc.ServerGroupsAndResources()
		served := map[string]bool{}
		for _, l := range lists {
			for _, r := range l.APIResources {
				served[l.GroupVersion+"/"+r.Name] = true
			}
		}
		missing = missing[:0]
		for k := range want {
			if !served[k] {
				missing = append(missing, k)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		slices.Sort(missing)
		return fmt.Errorf("not served: %v: %w", missing, err)
	}
	return nil
}

// poll calls cond until it is true, fails or the timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Poll calls cond until it is true, fails or the timeout passes.
func (s *Stack) Poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	return poll(ctx, timeout, cond)
}
