package build

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/workflow"
)

// PolicyTrailer names the image policy a write-back commit follows.
const PolicyTrailer = "Image-Policy"

// ScanImages follows the image policies: for every node, of the source
// branch's workflows that are not archived, whose image policy admits a
// tag newer than its image's, it writes that tag back, by digest, in one
// commit per node, and asks for a deploy. It returns the commits.
func (s *Service) ScanImages(ctx context.Context) ([]string, error) {
	head, files, err := s.workflows(ctx)
	if err != nil {
		return nil, err
	}
	var commits []string
	var errs []error
	for file, data := range files {
		wfName, ok := strings.CutSuffix(file, ".json")
		if !ok {
			continue
		}
		wf, err := workflow.Decode(workflow.WorkflowFile(wfName), data)
		if err != nil || wf.Status == workflow.StatusArchived {
			continue
		}
		for i := range wf.Nodes {
			n := &wf.Nodes[i]
			w, ok := n.Spec.(workflow.Workload)
			if !ok || w.ContainerSpec().ImagePolicy == nil {
				continue
			}
			c, err := s.followPolicy(ctx, wfName, n.ID, head, w.ContainerSpec())
			if err != nil {
				errs = append(errs, fmt.Errorf("image policy of node %s of %s: %w", n.ID, wfName, err))
			} else if c != "" {
				commits = append(commits, c)
			}
		}
	}
	if len(commits) > 0 {
		if err := s.cfg.Deploy(ctx); err != nil {
			s.cfg.Log.Warn("request a deploy after an image policy's write-back; the resync deploys it", slog.String("error", err.Error()))
		}
	}
	return commits, errors.Join(errs...)
}

// followPolicy writes back the newest image a node's policy admits, when
// it is not the node's image, and returns the commit.
func (s *Service) followPolicy(ctx context.Context, wf, node, head string, c *workflow.Container) (string, error) {
	named, err := reference.ParseNormalizedNamed(c.Image)
	if err != nil {
		return "", err
	}
	repo, err := name.NewRepository(named.Name())
	if err != nil {
		return "", err
	}
	auth, err := s.registryAuth(ctx, repo.RegistryStr())
	if err != nil {
		return "", err
	}
	tags, err := remote.List(repo, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return "", fmt.Errorf("list the tags of %s: %w", repo, err)
	}
	tag, policy, err := newestTag(c.ImagePolicy, tags)
	if err != nil || tag == "" {
		return "", err
	}
	desc, err := remote.Head(repo.Tag(tag), remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return "", fmt.Errorf("resolve %s:%s: %w", repo, tag, err)
	}
	image := reference.FamiliarName(named) + ":" + tag + "@" + desc.Digest.String()
	if image == c.Image {
		return "", nil
	}
	msg := fmt.Sprintf("Update %s of %s: image %s\n\n%s: %s\n%s: %s\n",
		node, wf, reference.FamiliarName(named)+":"+tag, PolicyTrailer, policy, gitrepo.WorkflowTrailer, wf)
	commit, skipped, err := s.setNodeImage(ctx, wf, node, head, image, msg)
	if skipped != "" {
		s.cfg.Log.Info("image policy not written back", slog.String("workflow", wf), slog.String("node", node), slog.String("reason", skipped))
	}
	return commit, err
}

// newestTag returns the newest of tags that a policy admits ("" when it
// admits none), and the policy as a trailer says it.
func newestTag(p *workflow.ImagePolicy, tags []string) (string, string, error) {
	if p.Semver != "" {
		c, err := semver.NewConstraint(p.Semver)
		if err != nil {
			return "", "", err
		}
		var best *semver.Version
		tag := ""
		for _, t := range tags {
			v, err := semver.NewVersion(t)
			if err == nil && c.Check(v) && (best == nil || v.GreaterThan(best)) {
				best, tag = v, t
			}
		}
		return tag, "semver " + p.Semver, nil
	}
	re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
	if err != nil {
		return "", "", err
	}
	tag := ""
	for _, t := range tags {
		if re.MatchString(t) && t > tag {
			tag = t
		}
	}
	return tag, "pattern " + p.Pattern, nil
}
