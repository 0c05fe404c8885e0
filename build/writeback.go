package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/internal/jsonpos"
	"github.com/slipway-gitops/slipway/workflow"
)

// BuildTrailer names the build a write-back commit comes from.
const BuildTrailer = "Build-Id"

// complete finishes a build whose push succeeded: it asks the registry
// for the digest of what was pushed, writes the image back to the node,
// and records the build completed.
func (s *Service) complete(ctx context.Context, r *Record, reported string) error {
	digest, err := s.resolve(ctx, r)
	if err != nil {
		return err
	}
	if _, d, ok := strings.Cut(reported, "@"); ok && d != digest {
		_, err := s.update(ctx, r.ID, func(r *Record) bool {
			if r.Status.Done() {
				return false
			}
			r.finish(Failed, time.Now().UTC())
			r.Error = fmt.Sprintf("the registry has %s for %s, but the builder pushed %s", digest, r.destination(), d)
			return true
		})
		return err
	}
	final := r.destination() + "@" + digest
	commit, skipped, err := s.writeBack(ctx, r, final)
	if err != nil {
		return fmt.Errorf("write %s back to node %s of %s: %w", final, r.Node, r.Workflow, err)
	}
	r, err = s.update(ctx, r.ID, func(r *Record) bool {
		if r.Status.Done() {
			return false
		}
		r.finish(Completed, time.Now().UTC())
		r.FinalImageRef, r.WriteBack, r.WriteBackSkipped = final, commit, skipped
		return true
	})
	if err != nil {
		return err
	}
	s.cfg.Log.Info("build completed", slog.String("build", r.ID), slog.String("image", final), slog.String("write_back", commit), slog.String("skipped", skipped))
	if commit != "" {
		if err := s.cfg.Deploy(ctx); err != nil {
			s.cfg.Log.Warn("request a deploy after a write-back; the resync deploys it", slog.String("build", r.ID), slog.String("error", err.Error()))
		}
	}
	return nil
}

// resolve asks the registry for the digest of the build's tag.
func (s *Service) resolve(ctx context.Context, r *Record) (string, error) {
	var opts []name.Option
	if s.cfg.Config.RegistryInsecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(r.destination(), opts...)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", r.destination(), err)
	}
	auth, err := s.registryAuth(ctx, ref.Context().RegistryStr())
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return "", fmt.Errorf("resolve %s in the registry: %w", r.destination(), err)
	}
	return desc.Digest.String(), nil
}

// registryAuth returns the credentials for host in the registry Secret,
// the ones the build pushed with, or none.
func (s *Service) registryAuth(ctx context.Context, host string) (authn.Authenticator, error) {
	if s.cfg.Config.RegistrySecret == "" {
		return authn.Anonymous, nil
	}
	ns, name := s.cfg.Config.Namespace, s.cfg.Config.RegistrySecret
	secret, err := s.cfg.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the registry Secret %s/%s: %w", ns, name, err)
	}
	var cfg struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
		// The error could quote the Secret's bytes: say only where.
		return nil, fmt.Errorf("the registry Secret %s/%s has no valid %s", ns, name, corev1.DockerConfigJsonKey)
	}
	for _, key := range []string{host, "https://" + host, "http://" + host} {
		if a, ok := cfg.Auths[key]; ok {
			return authn.FromConfig(a), nil
		}
	}
	return authn.Anonymous, nil
}

// errSkip stops a write-back, saying why.
type errSkip struct{ reason string }

func (e *errSkip) Error() string { return e.reason }

// writeBack commits image as the build's node's image in its workflow
// file on the source branch, and returns the commit; or, when a person
// changed the node since the build started, or the file is gone, commits
// nothing and returns why.
func (s *Service) writeBack(ctx context.Context, r *Record, image string) (commit, skipped string, err error) {
	msg := fmt.Sprintf("Build %s of %s: image %s\n\nBuilt %s at %s (%s).\n\n%s: %s\n%s: %s\n",
		r.Node, r.Workflow, r.ImageName+":"+r.ImageTag, r.RepoURL, r.Commit, r.Branch, BuildTrailer, r.ID, gitrepo.WorkflowTrailer, r.Workflow)
	return s.setNodeImage(ctx, r.Workflow, r.Node, r.SourceCommit, image, msg)
}

// setNodeImage commits, with message, image as a node's image in its
// workflow file on the source branch, unless the node changed since the
// commit base, and returns the commit or why there is none. An image
// already in place (a write-back done before a restart) is not written
// again.
func (s *Service) setNodeImage(ctx context.Context, wf, node, base, image, message string) (commit, skipped string, err error) {
	file := workflow.WorkflowFile(wf)
	was, err := s.nodeAt(base, wf, node)
	if err != nil {
		return "", "", err
	}
	c, err := s.cfg.Source.EditFile(ctx, s.cfg.SourceBranch, file, s.cfg.Author, message, func(head *object.Commit, content []byte) ([]byte, error) {
		if content == nil {
			return nil, &errSkip{fmt.Sprintf("%s is gone from %s at %s", file, s.cfg.SourceBranch, gitrepo.ShortID(head.Hash.String()))}
		}
		cur, err := nodeData(content, node)
		if err != nil {
			return nil, &errSkip{fmt.Sprintf("%s at %s: %v", file, gitrepo.ShortID(head.Hash.String()), err)}
		}
		if !sameJSON(cur, was) {
			return nil, &errSkip{fmt.Sprintf("node %s was changed on %s after %s (now at %s); the image was not written back",
				node, s.cfg.SourceBranch, gitrepo.ShortID(base), gitrepo.ShortID(head.Hash.String()))}
		}
		return setImage(content, node, image)
	})
	var skip *errSkip
	switch {
	case errors.As(err, &skip):
		return "", skip.reason, nil
	case errors.Is(err, gitrepo.ErrUnchanged):
		return "", "the node's image was " + image + " already", nil
	case err != nil:
		return "", "", err
	}
	return c.Hash.String(), "", nil
}

// nodeAt returns a node's data in a workflow file at a commit.
func (s *Service) nodeAt(commit, wf, node string) (jsontext.Value, error) {
	c, err := s.cfg.Source.Commit(plumbing.NewHash(commit))
	if err != nil {
		return nil, err
	}
	files, err := s.cfg.Source.Dir(c, workflow.WorkflowsDir)
	if err != nil {
		return nil, err
	}
	content, ok := files[wf+".json"]
	if !ok {
		return nil, fmt.Errorf("%s is not in commit %s", workflow.WorkflowFile(wf), commit)
	}
	return nodeData(content, node)
}

// nodeData returns the data of the node with id in a workflow file.
func nodeData(content []byte, id string) (jsontext.Value, error) {
	i, err := nodeIndex(content, id)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nodes []struct {
			Data jsontext.Value `json:"data"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(content, &doc); err != nil {
		return nil, err
	}
	return doc.Nodes[i].Data, nil
}

// nodeIndex returns the index of the node with id in a workflow file.
func nodeIndex(content []byte, id string) (int, error) {
	var doc struct {
		Nodes []struct {
			ID string `json:"id"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(content, &doc); err != nil {
		return 0, err
	}
	for i, n := range doc.Nodes {
		if n.ID == id {
			return i, nil
		}
	}
	return 0, fmt.Errorf("node %q is gone", id)
}

// sameJSON reports whether two JSON values are equal, their spacing
// aside.
func sameJSON(a, b jsontext.Value) bool {
	a, b = bytes.Clone(a), bytes.Clone(b)
	return a.Compact() == nil && b.Compact() == nil && bytes.Equal(a, b)
}

// setImage returns a workflow file with the image of the node with id
// set, and every other byte as it was.
func setImage(content []byte, id, image string) ([]byte, error) {
	i, err := nodeIndex(content, id)
	if err != nil {
		return nil, err
	}
	idx, err := jsonpos.Parse(content)
	if err != nil {
		return nil, err
	}
	ptr := fmt.Sprintf("/nodes/%d/data/image", i)
	pos, found := idx.Find(ptr)
	if found != ptr {
		return nil, fmt.Errorf("node %q has no image at %s", id, ptr)
	}
	old, err := jsontext.NewDecoder(bytes.NewReader(content[pos.Offset:])).ReadValue()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ptr, err)
	}
	quoted, err := jsontext.AppendQuote(nil, image)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(content)+len(quoted))
	out = append(out, content[:pos.Offset]...)
	out = append(out, quoted...)
	return append(out, content[pos.Offset+len(old):]...), nil
}
