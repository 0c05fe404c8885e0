package build

import (
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config says where and how builds run. The service builds nothing while
// Registry is empty. Every variable is documented in docs/builds.md.
type Config struct {
	// Registry is where images are pushed: a host, and a path under it
	// ("registry.example.com/team").
	Registry string `env:"HOOKS_BUILD_REGISTRY"`
	// RegistryInsecure reaches the registry over plain HTTP.
	RegistryInsecure bool `env:"HOOKS_BUILD_REGISTRY_INSECURE"`
	// RegistrySecret names the Secret, of type kubernetes.io/dockerconfigjson
	// in Namespace, that the Job pushes with; empty for none.
	RegistrySecret string `env:"HOOKS_BUILD_REGISTRY_SECRET"`
	// Cluster is the kubeconfig context builds run in; empty for the
	// current context.
	Cluster string `env:"HOOKS_BUILD_CLUSTER"`
	// Namespace is where build Jobs run.
	Namespace string `env:"HOOKS_BUILD_NAMESPACE, default=slipway-builds"`
	// CloneImage runs git to fetch the commit.
	CloneImage string `env:"HOOKS_BUILD_CLONE_IMAGE, default=alpine/git:v2.47.2"`
	// BuilderImage builds the context into an OCI archive; BuilderArgs,
	// when set, replace its arguments (docs/builds.md).
	BuilderImage string   `env:"HOOKS_BUILD_BUILDER_IMAGE, default=moby/buildkit:v0.23.2-rootless"`
	BuilderArgs  []string `env:"HOOKS_BUILD_BUILDER_ARGS"`
	// PushImage pushes the archive and writes the pushed reference, with
	// its digest, to the container's termination message.
	PushImage string `env:"HOOKS_BUILD_PUSH_IMAGE, default=gcr.io/go-containerregistry/crane:v0.20.6"`
	// NodeSelector picks the nodes build pods run on ("key:value,…").
	NodeSelector map[string]string `env:"HOOKS_BUILD_NODE_SELECTOR"`
	// CPU and Memory are the builder's requests and limits.
	CPU    string `env:"HOOKS_BUILD_CPU, default=1"`
	Memory string `env:"HOOKS_BUILD_MEMORY, default=2Gi"`
	// Timeout bounds a build, its retries included.
	Timeout time.Duration `env:"HOOKS_BUILD_TIMEOUT, default=30m"`
	// Retries is how many times a failed build pod is run again.
	Retries int32 `env:"HOOKS_BUILD_RETRIES, default=1"`
	// PolicyInterval is how often image policies are followed without a
	// registry's webhook.
	PolicyInterval time.Duration `env:"HOOKS_BUILD_POLICY_INTERVAL, default=5m"`
	// Resync is how often builds in progress are checked without a change
	// of their Job, and a failed step of the service retried.
	Resync time.Duration `env:"HOOKS_BUILD_RESYNC, default=10s"`
	// Keep is how many builds of each node are kept: older ones that
	// ended are deleted at each Resync. Zero keeps every build.
	Keep int `env:"HOOKS_BUILD_KEEP, default=50"`
}

// Enabled reports whether builds are configured.
func (c *Config) Enabled() bool { return c.Registry != "" }

// Validate reports every invalid variable.
func (c *Config) Validate() []error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if _, err := reference.ParseNormalizedNamed(c.Registry + "/image"); err != nil || strings.Contains(c.Registry, "://") {
		bad("HOOKS_BUILD_REGISTRY", "%q is not a registry host and path (registry.example.com/team)", c.Registry)
	}
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		bad("HOOKS_BUILD_NAMESPACE", "%q is not a namespace name: %s", c.Namespace, strings.Join(msgs, "; "))
	}
	if c.RegistrySecret != "" {
		if msgs := validation.IsDNS1123Subdomain(c.RegistrySecret); len(msgs) > 0 {
			bad("HOOKS_BUILD_REGISTRY_SECRET", "%q is not a Secret name: %s", c.RegistrySecret, strings.Join(msgs, "; "))
		}
	}
	for name, image := range map[string]string{"HOOKS_BUILD_CLONE_IMAGE": c.CloneImage, "HOOKS_BUILD_BUILDER_IMAGE": c.BuilderImage, "HOOKS_BUILD_PUSH_IMAGE": c.PushImage} {
		if _, err := reference.ParseNormalizedNamed(image); err != nil {
			bad(name, "%q is not an image reference: %v", image, err)
		}
	}
	for k, v := range c.NodeSelector {
		if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
			bad("HOOKS_BUILD_NODE_SELECTOR", "%s:%s is not a label: %s", k, v, strings.Join(msgs, "; "))
		}
	}
	for name, q := range map[string]string{"HOOKS_BUILD_CPU": c.CPU, "HOOKS_BUILD_MEMORY": c.Memory} {
		if _, err := resource.ParseQuantity(q); err != nil {
			bad(name, "%q is not a quantity: %v", q, err)
		}
	}
	if c.Timeout < 10*time.Second || c.Timeout > 24*time.Hour {
		bad("HOOKS_BUILD_TIMEOUT", "%s is not between 10s and 24h", c.Timeout)
	}
	if c.Retries < 0 || c.Retries > 10 {
		bad("HOOKS_BUILD_RETRIES", "%d is not between 0 and 10", c.Retries)
	}
	if c.PolicyInterval < 10*time.Second || c.PolicyInterval > 24*time.Hour {
		bad("HOOKS_BUILD_POLICY_INTERVAL", "%s is not between 10s and 24h", c.PolicyInterval)
	}
	if c.Resync < 100*time.Millisecond || c.Resync > time.Hour {
		bad("HOOKS_BUILD_RESYNC", "%s is not between 100ms and 1h", c.Resync)
	}
	if c.Keep < 0 || c.Keep > 10000 {
		bad("HOOKS_BUILD_KEEP", "%d is not between 0 (keep every build) and 10000", c.Keep)
	}
	return errs
}
