package watch

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Contexts chooses a kubeconfig context for each cluster: the context
// named like the cluster, or, when there is one cluster and no such
// context, the current context. A cluster without one is absent from the
// result: it is not watched. An empty path watches nothing.
func Contexts(path string, clusters []string) (map[string]*rest.Config, error) {
	out := map[string]*rest.Config{}
	if path == "" {
		return out, nil
	}
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	for _, cl := range clusters {
		name := cl
		if _, ok := raw.Contexts[cl]; !ok {
			if len(clusters) != 1 || raw.CurrentContext == "" {
				continue
			}
			name = raw.CurrentContext
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: context %s: %w", path, name, err)
		}
		out[cl] = cfg
	}
	return out, nil
}
