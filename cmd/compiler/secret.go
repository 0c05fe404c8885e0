package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-gitops/slipway/sopsfile"
	"github.com/slipway-gitops/slipway/sopsfile/encrypt"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
)

const secretUsage = "secret set --source DIR --workflow NAME --node ID [--cluster NAME] [--from-env-file FILE] [KEY=VALUE...]"

// secretCommand is the secret command; stdin holds the values when
// neither arguments nor --from-env-file give them.
type secretCommand struct{ stdin io.Reader }

func (s secretCommand) run(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(stdout, "Usage: compiler %s\n", secretUsage)
			return nil
		}
		return usagef("secret: the only subcommand is set: compiler %s", secretUsage)
	}
	flags := newFlagSet("secret set", secretUsage, stdout)
	dir := flags.String("source", "", "the workflows repository: a directory with workflows/, clusters/ and secrets/")
	wfName := flags.String("workflow", "", "the workflow of the secret node")
	nodeRef := flags.String("node", "", "the secret node: its id or its Secret's name; or NAME-env, the workflow NAME's environment Secret, whose keys are WORKLOAD.VARIABLE")
	cluster := flags.String("cluster", "", "the workflow's cluster, whose sops.age keys the values are encrypted for (default: the workflow's)")
	envFile := flags.String("from-env-file", "", "a file of KEY=VALUE lines (# comments and blank lines skipped; values taken as they are)")
	pairs, err := parse(flags, args[1:])
	if err != nil {
		return ignoreHelp(err)
	}
	switch {
	case *dir == "":
		return usagef("secret set: --source is required")
	case *wfName == "" || *nodeRef == "":
		return usagef("secret set: --workflow and --node are required")
	case len(pairs) > 0 && *envFile != "":
		return usagef("secret set: give values as KEY=VALUE arguments or with --from-env-file, not both")
	}
	values, err := s.values(pairs, *envFile)
	if err != nil {
		return err
	}
	target, err := secretTarget(ctx, *dir, *wfName, *nodeRef, *cluster)
	if err != nil {
		return err
	}
	if undeclared := slices.DeleteFunc(slices.Sorted(maps.Keys(values)), func(k string) bool { return slices.Contains(target.Keys, k) }); len(undeclared) > 0 {
		if target.NodeID == "" {
			return fmt.Errorf("%s: no workload reads the keys %s of the Secret %s: a variable given by name only, NAME of the workload WORKLOAD, is the key WORKLOAD.NAME; add it to the workload's envKeys first", workflow.WorkflowFile(*wfName), strings.Join(undeclared, ", "), target.Name)
		}
		return fmt.Errorf("%s: node %q does not list the keys %s; add them to its keys first", workflow.WorkflowFile(*wfName), target.NodeID, strings.Join(undeclared, ", "))
	}
	file := filepath.Join(*dir, filepath.FromSlash(target.File))
	existing, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		existing = nil
	} else if err != nil {
		return err
	}
	out, err := encrypt.Set(target.File, existing, target.Name, target.Type, values, target.Recipients)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(file, out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: set %s, encrypted for %d age key(s) of cluster %q\n", target.File, strings.Join(slices.Sorted(maps.Keys(values)), ", "), len(target.Recipients), target.Cluster)
	return err
}

// secretTarget loads the repository in dir and returns the secret node
// ref (an id or a Secret name), or the environment Secret, of the
// workflow named wf and the age keys of its cluster, which must be
// cluster when that is set (see sopsfile.TargetOf). The
// repository's other problems do not matter here: the file secret set
// writes may be what it lacks.
func secretTarget(ctx context.Context, dir, wf, ref, cluster string) (sopsfile.Target, error) {
	src, err := source.ReadDir(os.DirFS(dir))
	if err != nil {
		return sopsfile.Target{}, err
	}
	var loader source.Loader
	repo, err := loader.Load(ctx, src)
	if err != nil {
		return sopsfile.Target{}, err
	}
	path := workflow.WorkflowFile(wf)
	if problems := repo.Invalid[path]; problems != nil {
		return sopsfile.Target{}, problems
	}
	i := slices.IndexFunc(repo.Workflows, func(w *workflow.Workflow) bool { return w.Name == wf })
	if i < 0 {
		return sopsfile.Target{}, fmt.Errorf("%s does not exist in %s", path, dir)
	}
	w := repo.Workflows[i]
	if cluster != "" && cluster != w.Cluster() {
		return sopsfile.Target{}, fmt.Errorf("%s: the workflow is on cluster %q, not %q", path, w.Cluster(), cluster)
	}
	t, err := sopsfile.TargetOf(w, repo.Clusters, ref)
	if err == nil && t.File == "" {
		err = fmt.Errorf("%s: node %q has no sopsFile; add \"sopsFile\": %q to its data", path, t.NodeID, workflow.SopsFile(wf, t.Name))
	}
	return t, err
}

// values returns the values to set: from the KEY=VALUE arguments pairs,
// else from the lines of envFile, else from the lines of stdin. Errors
// name the argument or line, never its value.
func (s secretCommand) values(pairs []string, envFile string) (map[string][]byte, error) {
	if len(pairs) > 0 {
		values := map[string][]byte{}
		for i, p := range pairs {
			if err := addValue(values, p); err != nil {
				return nil, usagef("secret set: argument %d: %v", i+1, err)
			}
		}
		return values, nil
	}
	from, name := s.stdin, "standard input"
	if envFile != "" {
		b, err := os.ReadFile(envFile)
		if err != nil {
			return nil, err
		}
		from, name = bytes.NewReader(b), envFile
	}
	return readValues(from, name)
}

// readValues reads KEY=VALUE lines from r, named name in errors,
// skipping blank lines and # comments.
func readValues(r io.Reader, name string) (map[string][]byte, error) {
	values := map[string][]byte{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), workflow.MaxFileSize)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(text); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := addValue(values, text); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("%s holds no KEY=VALUE line", name)
	}
	return values, nil
}

// addValue adds the value of a KEY=VALUE pair to values.
func addValue(values map[string][]byte, pair string) error {
	key, value, ok := strings.Cut(pair, "=")
	_, dup := values[key]
	switch {
	case !ok:
		return errors.New("not KEY=VALUE")
	case len(validation.IsConfigMapKey(key)) > 0:
		return fmt.Errorf("%q is not a Secret key name (letters, digits, -, _ and .)", key)
	case dup:
		return fmt.Errorf("the key %q is given twice", key)
	}
	values[key] = []byte(value)
	return nil
}

// writeFileAtomic replaces the file at p with data, through a file
// beside it, so that an interrupted write leaves the old file whole.
func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
