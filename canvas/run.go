package canvas

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/sopsfile/encrypt"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

// runTimeout bounds a run: its fetch, encryption, commit and push, and
// the deploy signal.
const runTimeout = time.Minute

// runRequest is what the editor's Run sends.
type runRequest struct {
	TriggerData triggerData `json:"trigger_data"`
}

// triggerData holds the values of secret nodes' keys and of workloads'
// environment variables, by node id and key or variable name, which
// KubeOrch hands to the cluster without storing them.
type triggerData struct {
	Secrets map[string]map[string]string `json:"secrets"`
	EnvVars map[string]map[string]string `json:"envVars"`
}

// sets reports whether d sets any secret or environment value.
func (d triggerData) sets() (secrets, env bool) {
	for _, vs := range d.EnvVars {
		env = env || len(vs) > 0
	}
	return len(d.Secrets) > 0, env
}

// RunResponse is the answer of POST /workflows/:id/run, as the editor
// reads it: RunID is the source commit the deploy builds, Logs say what
// the run did, one line each, never a value.
type RunResponse struct {
	Message string   `json:"message"`
	RunID   string   `json:"run_id"`
	Status  string   `json:"status"`
	Logs    []string `json:"logs"`
}

// sealed is what a run commits: the files by path, and a line for each.
type sealed struct {
	files map[string][]byte
	logs  []string
}

// seal returns the files a run writes on the source branch's head for
// the values d of the workflow name: each secret node's SOPS file and
// the environment Secret's (see sealEnv), encrypted for the age keys of
// the workflow's cluster, and the workflow file with sopsFile set on the
// secret nodes that named none. files are the head's workflow and
// cluster files, decoded with loader; read reads any other file there.
// No value is ever in what it returns but encrypted, nor in an error.
func seal(ctx context.Context, loader *source.Loader, files source.Files, read func(string) ([]byte, error), name string, d triggerData) (sealed, error) {
	out := sealed{files: map[string][]byte{}}
	if secrets, env := d.sets(); !secrets && !env {
		return out, nil
	}
	repo, err := loader.Load(ctx, files)
	if err != nil {
		return out, err
	}
	path := workflow.WorkflowFile(name)
	if problems := repo.Invalid[path]; problems != nil {
		return out, &bodyError{status: http.StatusBadRequest, msg: fmt.Sprintf("%s cannot run: %v", path, problems)}
	}
	i := slices.IndexFunc(repo.Workflows, func(w *workflow.Workflow) bool { return w.Name == name })
	if i < 0 {
		return out, fmt.Errorf("%s: %w", path, errNoWorkflow)
	}
	w := repo.Workflows[i]
	if err := sealEnv(w, repo.Clusters, d.EnvVars, &out); err != nil {
		return out, err
	}
	secrets := d.Secrets
	var unnamed []string
	for _, id := range slices.Sorted(maps.Keys(secrets)) {
		ptr := "/trigger_data/secrets/" + pointerEscape(id)
		t, err := sopsfile.TargetOf(w, repo.Clusters, id)
		if err != nil || t.NodeID != id {
			return out, &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf("request body: %s: %v", ptr, cmpErr(err, fmt.Errorf("%s: no secret node has the id %q", path, id)))}
		}
		values := map[string][]byte{}
		for _, k := range slices.Sorted(maps.Keys(secrets[id])) {
			if !slices.Contains(t.Keys, k) {
				p := ptr + "/" + pointerEscape(k)
				return out, &bodyError{status: http.StatusBadRequest, pointer: p, msg: fmt.Sprintf("request body: %s: node %q of %s does not list the key %q", p, id, path, k)}
			}
			values[k] = []byte(secrets[id][k])
		}
		// The service holds no private key: a file is written anew, with
		// every key the node lists, or the build refuses it.
		if missing := unset(t.Keys, values); len(missing) > 0 {
			return out, &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf("request body: %s: a run sets every key of secret node %q at once; %s missing", ptr, id, strings.Join(missing, ", "))}
		}
		if t.File == "" {
			t.File = workflow.SopsFile(name, t.Name)
			unnamed = append(unnamed, id)
		}
		existing, err := read(t.File)
		if err != nil {
			return out, err
		}
		enc, err := encrypt.Set(t.File, existing, t.Name, t.Type, values, t.Recipients)
		if err != nil {
			return out, &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf("request body: %s: %v", ptr, err)}
		}
		out.add(t, enc)
	}
	if len(unnamed) > 0 {
		doc, err := read(path)
		if err != nil {
			return out, err
		}
		if out.files[path], err = nameSopsFiles(doc, name, unnamed, w); err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}

// unset returns the keys that values lacks.
func unset(keys []string, values map[string][]byte) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { _, ok := values[k]; return ok })
}

// add adds the encrypted file enc of the Secret of t to what a run
// commits, with its line.
func (s *sealed) add(t sopsfile.Target, enc []byte) {
	s.files[t.File] = enc
	s.logs = append(s.logs, fmt.Sprintf("Secret %s: %s encrypted for %d age key(s) of cluster %s into %s",
		t.Name, strings.Join(slices.Sorted(slices.Values(t.Keys)), ", "), len(t.Recipients), t.Cluster, t.File))
}

// sealEnv adds to out the environment Secret file of w for the values
// env of its workloads' variables, by node id and name, when env holds
// any: each must be a variable its workload gives by name only, which
// reads the key <workload>.<NAME> of that Secret. The service holds no
// private key, so the file is written anew and the values must be all
// the Secret's keys; keys no workload reads any more are dropped.
func sealEnv(w *workflow.Workflow, clusters []*workflow.Cluster, env map[string]map[string]string, out *sealed) error {
	path := workflow.WorkflowFile(w.Name)
	values := map[string][]byte{}
	for _, id := range slices.Sorted(maps.Keys(env)) {
		ptr := "/trigger_data/envVars/" + pointerEscape(id)
		for _, k := range slices.Sorted(maps.Keys(env[id])) {
			p := ptr + "/" + pointerEscape(k)
			key, declared := sopsfile.EnvKey(w, id, k)
			switch {
			case key == "":
				return &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf("request body: %s: no workload of %s has the id %q", ptr, path, id)}
			case !declared:
				return &bodyError{status: http.StatusBadRequest, pointer: p, msg: fmt.Sprintf(
					"request body: %s: workload %q of %s does not give the variable %q by name only: a run sets the values of those only", p, id, path, k)}
			}
			values[key] = []byte(env[id][k])
		}
	}
	if len(values) == 0 {
		return nil
	}
	const ptr = "/trigger_data/envVars"
	secret := workflow.EnvSecretName(w.Name)
	t, err := sopsfile.TargetOf(w, clusters, secret)
	switch {
	case err != nil:
		return &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf("request body: %s: %v", ptr, err)}
	case t.NodeID != "":
		return &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf(
			"request body: %s: the Secret %s is secret node %q's, which lists its keys: set them in /trigger_data/secrets/%s", ptr, secret, t.NodeID, pointerEscape(t.NodeID))}
	}
	if missing := unset(t.Keys, values); len(missing) > 0 {
		return &bodyError{status: http.StatusBadRequest, pointer: ptr, msg: fmt.Sprintf(
			"request body: %s: a run sets every environment value of %s at once, since the service cannot read those in git; %s missing", ptr, path, strings.Join(missing, ", "))}
	}
	enc, err := encrypt.Encrypt(encrypt.Secret{Name: t.Name, Data: values}, t.Recipients)
	if err != nil {
		return err
	}
	out.add(t, enc)
	return nil
}

// nameSopsFiles returns the workflow file doc with sopsFile set in the
// data of the secret nodes ids of w, and every other byte as it was
// written.
func nameSopsFiles(doc []byte, name string, ids []string, w *workflow.Workflow) ([]byte, error) {
	ms, err := readMembers(doc)
	if err != nil {
		return nil, err
	}
	set := map[string]jsontext.Value{}
	for _, n := range w.Nodes {
		if s, ok := n.Spec.(*workflow.SecretData); ok && slices.Contains(ids, n.ID) {
			set[n.ID], _ = jsontext.AppendQuote(nil, workflow.SopsFile(name, s.Name))
		}
	}
	nodes, err := setNodeData(memberValue(ms, "nodes"), "sopsFile", set)
	if err != nil {
		return nil, err
	}
	return writeMembers(setMember(ms, "nodes", nodes), map[string]bool{"nodes": true})
}

// cmpErr returns err, or def when err is nil.
func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// pointerEscape escapes a JSON pointer's reference token.
func pointerEscape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// registerRun adds the routes that deploy a workflow and follow it live.
func (s *Server) registerRun(r fiber.Router) {
	r.Post("/workflows/:id/run", s.requireUser, s.run)
	r.Get("/workflows/:id/status", s.requireUser, s.status)
	r.Get("/workflows/:id/status/stream", s.requireUser, s.stream)
}

// run answers POST /workflows/:id/run: it commits the secret and
// environment values the run carries, encrypted, as the secret nodes'
// files and the workflow's environment Secret file, in one commit with
// the user as author, and deploys the source branch through the service's deploy
// signal, as a push does. A run that carries no values commits nothing.
// Deploys of one head are one: the signal coalesces, and a retry finds
// the head deployed.
func (s *Server) run(c *fiber.Ctx) error {
	u, _ := CurrentUser(c)
	var req runRequest
	if len(c.Body()) > 0 || c.Context().RequestBodyStream() != nil {
		if err := readJSON(c, &req); err != nil {
			return s.fail(c, err)
		}
	}
	name, err := workflowID(c)
	if err != nil {
		return s.fail(c, err)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), runTimeout)
	defer cancel()
	head, logs, err := s.commitRun(ctx, name, gitrepo.Signature{Name: u.Name, Email: u.Email}, req.TriggerData)
	if err != nil {
		return s.fail(c, s.noteUnmerged(ctx, name, err))
	}
	if err := s.opts.Signals.Signal(ctx, hooks.SignalDeploy); err != nil {
		return s.fail(c, fmt.Errorf("queue the deploy: %w", err))
	}
	logs = append(logs, fmt.Sprintf("Deploy of %s (%s) queued: Flux applies it once it is built", gitrepo.ShortID(head.Hash.String()), s.opts.SourceBranch))
	if note := s.unmerged(ctx, name); note != "" {
		logs = append(logs, note)
	}
	return c.JSON(RunResponse{Message: "Workflow execution started", RunID: head.Hash.String(), Status: "running", Logs: logs})
}

// commitRun commits the secret and environment values d of a run of the
// workflow name, as author, in one commit, and returns the source
// branch's head that the deploy builds. The workflow must be published:
// drafts are never deployed.
func (s *Server) commitRun(ctx context.Context, name string, author gitrepo.Signature, d triggerData) (*object.Commit, []string, error) {
	secrets, env := d.sets()
	var set []string
	if secrets {
		set = append(set, "the values of its secrets")
	}
	if env {
		set = append(set, "the values of its environment variables")
	}
	message := fmt.Sprintf("Run %s: set %s\n", name, strings.Join(set, " and "))
	for attempt := 0; ; attempt++ {
		head, err := s.head(ctx)
		if err != nil {
			return nil, nil, err
		}
		// The files are read before the edit: the repository is locked
		// while an edit decides.
		files, err := s.opts.Source.Source(head)
		if err != nil {
			return nil, nil, err
		}
		// A loader of its own: the workflows a loader returns are its
		// own, changed by its next load, and another request's load
		// must not change them while the run reads them.
		var loader source.Loader
		if err := runnable(ctx, &loader, files, name); err != nil {
			return nil, nil, err
		}
		if len(set) == 0 {
			return head, nil, nil
		}
		var logs []string
		c, err := s.opts.Source.EditFiles(ctx, s.opts.SourceBranch, author, message, func(at *object.Commit, read func(string) ([]byte, error)) (map[string][]byte, error) {
			if at.Hash != head.Hash {
				return nil, fmt.Errorf("%w: %s moved while the run was prepared", gitrepo.ErrConflict, s.opts.SourceBranch)
			}
			out, err := seal(ctx, &loader, files, read, name, d)
			logs = out.logs
			return out.files, err
		})
		if errors.Is(err, gitrepo.ErrConflict) && attempt < gitrepo.MaxAttempts {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return c, logs, nil
	}
}

// runnable says why the workflow name of files, decoded with loader,
// cannot run, if it cannot: it does not exist, or is not published.
func runnable(ctx context.Context, loader *source.Loader, files source.Files, name string) error {
	path := workflow.WorkflowFile(name)
	if _, ok := files[path]; !ok {
		return fmt.Errorf("%s: %w", path, errNoWorkflow)
	}
	repo, err := loader.Load(ctx, files)
	if err != nil {
		return err
	}
	if problems := repo.Invalid[path]; problems != nil {
		return &bodyError{status: http.StatusBadRequest, msg: fmt.Sprintf("%s cannot run: %v", path, problems)}
	}
	if _, draft := repo.Drafts[path]; draft {
		return &bodyError{status: http.StatusBadRequest, msg: "Workflow must be published to run: " + path + " is a draft"}
	}
	i := slices.IndexFunc(repo.Workflows, func(w *workflow.Workflow) bool { return w.Name == name })
	if i < 0 || repo.Workflows[i].Status != workflow.StatusPublished {
		return &bodyError{status: http.StatusBadRequest, msg: "Workflow must be published to run: " + path + " is not"}
	}
	return nil
}
