package kubeorch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/workflow"
)

// Options say how documents become workflow files.
type Options struct {
	// Cluster names the cluster file every workflow targets; empty keeps
	// the cluster KubeOrch ran each workflow on (cluster_id), and the
	// repository's default cluster for one without.
	Cluster string
	// Authors names the authors of KubeOrch's users; a user it does not
	// name is the author by id, at NoReplyDomain.
	Authors Authors
}

// File is one imported workflow: its file and its history.
type File struct {
	// Name is the workflow's name, the stem of its file.
	Name string
	// DisplayName is KubeOrch's name of the workflow.
	DisplayName string
	// Cluster is the name of the cluster file the workflow targets; empty
	// for the repository's default cluster.
	Cluster string
	// Commits are the versions of the file, oldest first; there is at
	// least one.
	Commits []Commit
}

// Commit is one version of a workflow file.
type Commit struct {
	// JSON is the workflow file.
	JSON []byte
	// Time is when KubeOrch made the version.
	Time time.Time
	// Message is the commit message.
	Message string
	// Author made the version in KubeOrch; zero when KubeOrch does not
	// say, for the importer to be the author.
	Author Author
	// Version is KubeOrch's version number; 0 for a current canvas that no
	// version holds.
	Version int
}

// Result is what Import made.
type Result struct {
	// Files are the workflows, ordered by name.
	Files []File
	// Clusters are the clusters the workflows target, ordered by name, as
	// minimal cluster files: for a repository that lacks them.
	Clusters []workflow.Cluster
	Report   *Report
}

// Import turns KubeOrch documents into workflow files. Versions are
// matched to workflows by workflow_id; with one workflow, versions without
// one are its. Problems are workflow.Errors located in the input.
func Import(docs *Documents, opts Options) (*Result, error) {
	res := &Result{Report: &Report{}}
	var errs workflow.Errors
	fail := func(l location, format string, args ...any) {
		errs = append(errs, &workflow.Error{File: l.file, Pointer: l.ptr, Message: fmt.Sprintf(format, args...)})
	}
	if len(docs.Workflows) == 0 {
		var at location
		if len(docs.Versions) > 0 {
			at = docs.Versions[0].at
		}
		fail(at, "no KubeOrch workflow among the inputs: versions alone do not say the workflow's name, status or tags")
		return nil, errs
	}
	byID := map[string]*Workflow{}
	byName := map[string]*Workflow{}
	for _, w := range docs.Workflows {
		name := DNSName(w.Name)
		if other, dup := byName[name]; dup {
			fail(w.at.at("name"), "%q becomes workflow %q, as %q (%s#%s) does; rename one in KubeOrch", w.Name, name, other.Name, other.at.file, other.at.ptr)
			continue
		}
		byName[name] = w
		if w.ID != "" {
			byID[w.ID] = w
		}
	}
	versions := map[*Workflow][]*Version{}
	for _, v := range docs.Versions {
		w, ok := byID[v.WorkflowID]
		if !ok && len(docs.Workflows) == 1 && (v.WorkflowID == "" || docs.Workflows[0].ID == "") {
			w, ok = docs.Workflows[0], true
		}
		if !ok {
			fail(v.at.at("workflow_id"), "names workflow %q, which is not among the inputs", v.WorkflowID)
			continue
		}
		versions[w] = append(versions[w], v)
	}
	clusters := map[string]*Workflow{} // cluster file name → the first workflow on it
	for _, name := range sortedKeys(byName) {
		w := byName[name]
		cluster := opts.Cluster
		if cluster == "" && w.ClusterID != "" {
			cluster = DNSName(w.ClusterID)
		}
		if other, ok := clusters[cluster]; ok && cluster != opts.Cluster && other.ClusterID != w.ClusterID {
			fail(w.at.at("cluster_id"), "KubeOrch's cluster %q becomes the cluster file %s, as cluster %q (%s#%s) does; rename one in KubeOrch or import them apart with --cluster",
				w.ClusterID, workflow.ClusterFile(cluster), other.ClusterID, other.at.file, other.at.ptr+"/cluster_id")
			continue
		}
		if _, ok := clusters[cluster]; !ok && cluster != "" {
			clusters[cluster] = w
			c := workflow.Cluster{Name: cluster}
			if cluster != opts.Cluster {
				c.Description = fmt.Sprintf("KubeOrch's cluster %q, made by the import of its workflows. To take over what KubeOrch deployed there, set \"adopt\": \"kubeorch\".", w.ClusterID)
				if cluster != w.ClusterID {
					c.DisplayName = w.ClusterID
				}
			}
			res.Clusters = append(res.Clusters, c)
		}
		if why := workflow.ReservedName(name); why != "" {
			// compiler check would reject the file: the import makes none.
			fail(w.at.at("name"), "%q becomes workflow %q, a reserved name (%s); rename it in KubeOrch", w.Name, name, why)
			continue
		}
		vs := versions[w]
		if len(vs) == 0 {
			vs = w.Versions
		}
		f, err := importWorkflow(name, cluster, w, vs, opts, res.Report)
		var located workflow.Errors
		switch {
		case errors.As(err, &located):
			errs = append(errs, located...)
			continue
		case err != nil:
			return nil, err
		}
		res.Files = append(res.Files, *f)
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	sort.Slice(res.Clusters, func(i, j int) bool { return res.Clusters[i].Name < res.Clusters[j].Name })
	return res, nil
}

// Step is one commit of an import's history.
type Step struct {
	// Name is the workflow the commit changes.
	Name string
	Commit
}

// History returns the commits of every workflow in the order KubeOrch
// made them, each workflow's in its own order, so that a repository's
// history follows KubeOrch's and every version keeps its number.
func (r *Result) History() []Step {
	next := make([]int, len(r.Files))
	var out []Step
	for {
		best := -1
		for i, f := range r.Files {
			if next[i] < len(f.Commits) && (best < 0 || f.Commits[next[i]].Time.Before(r.Files[best].Commits[next[best]].Time)) {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		out = append(out, Step{Name: r.Files[best].Name, Commit: r.Files[best].Commits[next[best]]})
		next[best]++
	}
}

// header is the workflow-level part of a workflow file, in the order
// workflow files list it.
type header struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	ClusterID   string            `json:"cluster_id,omitempty"`
	Status      workflow.Status   `json:"status"`
	Tags        []string          `json:"tags,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Nodes       []json.RawMessage `json:"nodes"`
	Edges       []json.RawMessage `json:"edges"`
}

// importWorkflow makes the file of one workflow, on cluster, and its
// commits.
func importWorkflow(name, cluster string, w *Workflow, vs []*Version, opts Options, r *Report) (*File, error) {
	h := header{Name: name, Tags: w.Tags, ClusterID: cluster}
	mapWorkflowFields(name, cluster, w, opts, r, &h)
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Number < vs[j].Number })
	var errs workflow.Errors
	f := &File{Name: name, DisplayName: w.Name, Cluster: cluster}
	var prev []byte
	last := 0
	for i, v := range vs {
		if i > 0 && vs[i-1].Number == v.Number {
			errs = append(errs, &workflow.Error{File: v.at.file, Pointer: v.at.ptr + "/version", Message: fmt.Sprintf("version %d of %q is given twice (also %s#%s)", v.Number, w.Name, vs[i-1].at.file, vs[i-1].at.ptr)})
			continue
		}
		mapVersionFields(name, v, opts.Authors, r)
		if v.Number != last+1 {
			r.add(name, v.at.at("version"), Approximated, "%s not among the inputs (a page of GET /workflows/:id/versions left out?); `compiler versions` leaves the numbers out", missing(w.Name, last+1, v.Number-1))
		}
		last = v.Number
		data, err := h.with(v.Nodes, v.Edges, namespaceOf(v.Nodes))
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, prev) {
			r.add(name, v.at, Mapped, "version %d has the same canvas as version %d (KubeOrch makes a version on every run): its commit changes no file and is version %d all the same", v.Number, vs[i-1].Number, v.Number)
		}
		prev = data
		c := Commit{JSON: data, Time: v.CreatedAt.UTC(), Message: v.message(name, w), Version: v.Number}
		if v.CreatedBy != "" {
			c.Author, _ = opts.Authors.author(v.CreatedBy)
		}
		f.Commits = append(f.Commits, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	cur, err := h.with(w.Nodes, w.Edges, namespaceOf(w.Nodes))
	if err != nil {
		return nil, err
	}
	noteWarnings(name, w.at, cur, r)
	noteAdoption(name, cur, r)
	if !bytes.Equal(cur, prev) {
		when := w.UpdatedAt
		if when.IsZero() {
			when = w.CreatedAt
		}
		msg := fmt.Sprintf("Import %s from KubeOrch\n", w.Name)
		if len(f.Commits) > 0 {
			msg = fmt.Sprintf("Import the canvas of %s as KubeOrch last saved it\n\nIt differs from version %d, the newest.\n", w.Name, vs[len(vs)-1].Number)
			r.add(name, w.at.at("nodes"), Approximated, "the saved canvas differs from the newest version; it is one more commit after the versions")
		}
		f.Commits = append(f.Commits, Commit{JSON: cur, Time: when.UTC(), Message: msg + trailers("KubeOrch-Workflow", w.ID, gitrepo.WorkflowTrailer, name)})
	}
	return f, nil
}

// noteWarnings reports what `compiler check` warns of in the imported
// canvas data, a workflow file: editor shapes that work in KubeOrch and
// that Slipway renders otherwise, or refers to objects it does not render.
// A canvas that does not decode is left to check, which names its
// problems.
func noteWarnings(name string, at location, data []byte, r *Report) {
	wf, err := workflow.Decode(workflow.WorkflowFile(name), data)
	if err != nil {
		return
	}
	for _, e := range wf.Warnings {
		l := at
		if e.Pointer != "" {
			l.ptr += e.Pointer // the canvas is carried as KubeOrch saved it
		}
		r.add(name, l, Approximated, "compiler check warns: %s", e.Message)
	}
}

// with returns the workflow file of h with a canvas.
func (h header) with(nodes, edges []json.RawMessage, namespace string) ([]byte, error) {
	h.Nodes, h.Edges, h.Namespace = nodes, edges, namespace
	if h.Nodes == nil {
		h.Nodes = []json.RawMessage{}
	}
	if h.Edges == nil {
		h.Edges = []json.RawMessage{}
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("workflow %s: %w", h.Name, err)
	}
	return append(b, '\n'), nil
}

// namespaceOf returns the namespace KubeOrch deployed every node into,
// or "" when there are no nodes or they disagree: the one a node names,
// or default for a node that names none (KubeOrch's default).
func namespaceOf(nodes []json.RawMessage) string {
	ns := ""
	for _, n := range nodes {
		var node struct {
			Data struct {
				Namespace any `json:"namespace"`
			} `json:"data"`
		}
		if json.Unmarshal(n, &node) != nil {
			return ""
		}
		s, _ := node.Data.Namespace.(string)
		if s == "" {
			s = workflow.DefaultNamespace
		}
		if ns != "" && s != ns {
			return ""
		}
		ns = s
	}
	return ns
}

// fieldRule is how a field is reported when its report says the same
// for every document.
type fieldRule struct {
	status Status
	detail string
}

// workflowRules report the fields of a workflow whose report does not
// depend on their value.
var workflowRules = map[string]fieldRule{
	"description":     {Mapped, "description"},
	"status":          {Mapped, "status"},
	"tags":            {Mapped, "tags"},
	"nodes":           {Mapped, "carried as the editor saved them"},
	"edges":           {Mapped, "carried as the editor saved them"},
	"id":              {Approximated, "KubeOrch's id is a KubeOrch-Workflow trailer in the commit messages"},
	"versions":        {Mapped, "embedded versions are commits, when no separate version documents are given"},
	"current_version": {Mapped, "the newest version: `compiler versions` numbers the commits as KubeOrch did"},
	"created_at":      {Approximated, "git keeps times: a commit without a version is dated updated_at"},
	"updated_at":      {Approximated, "git keeps times: a commit without a version is dated updated_at"},
	"owner_id":        {Dropped, "KubeOrch's users and teams; in git, the repository's permissions decide who changes a workflow"},
	"team_id":         {Dropped, "KubeOrch's users and teams; in git, the repository's permissions decide who changes a workflow"},
	"last_run_at":     {Dropped, "KubeOrch's run statistics; Flux applies every published workflow and reports its status"},
	"run_count":       {Dropped, "KubeOrch's run statistics; Flux applies every published workflow and reports its status"},
	"success_count":   {Dropped, "KubeOrch's run statistics; Flux applies every published workflow and reports its status"},
	"failure_count":   {Dropped, "KubeOrch's run statistics; Flux applies every published workflow and reports its status"},
}

// versionRules report the fields of a version.
var versionRules = map[string]fieldRule{
	"nodes":         {Mapped, "carried as the editor saved them"},
	"edges":         {Mapped, "carried as the editor saved them"},
	"description":   {Mapped, "in the commit message"},
	"name":          {Mapped, "in the commit message"},
	"tag":           {Mapped, "in the commit message"},
	"restored_from": {Mapped, "a KubeOrch-Restored-From trailer: the version restored, the same number in `compiler versions`"},
	"is_automatic":  {Mapped, "in the commit message"},
	"run_status":    {Mapped, "in the commit message"},
	"created_at":    {Mapped, "the commit's author date"},
	"workflow_id":   {Mapped, "matched to its workflow"},
	"id":            {Dropped, "KubeOrch's database id of the version; the commit id replaces it"},
	"run_id":        {Dropped, "a KubeOrch run record"},
}

// reportFields reports each field of a document: by its rule, or by
// special when that knows it, or as unknown.
func reportFields(r *Report, name string, at location, fields []string, rules map[string]fieldRule, special func(key string, l location) bool) {
	for _, k := range fields {
		l := at.at(k)
		if special(k, l) {
			continue
		}
		rule, ok := rules[k]
		if !ok {
			rule = fieldRule{Dropped, "not a field of KubeOrch's documents this importer knows"}
		}
		r.add(name, l, rule.status, "%s", rule.detail)
	}
}

// mapWorkflowFields fills h from w's fields and reports each of them.
func mapWorkflowFields(name, cluster string, w *Workflow, opts Options, r *Report, h *header) {
	reportFields(r, name, w.at, w.fields, workflowRules, func(k string, l location) bool {
		switch k {
		case "name":
			if name == w.Name {
				r.add(name, l, Mapped, "the workflow's name and file name")
			} else {
				r.add(name, l, Approximated, "the file name is %s, a DNS-safe form of %q; the display name is the description's first line", workflow.WorkflowFile(name), w.Name)
			}
		case "cluster_id":
			switch {
			case cluster == "":
				r.add(name, l, Mapped, "none: the workflow targets the repository's default cluster")
			case w.ClusterID == "":
				r.add(name, l, Mapped, "none; the workflow targets the cluster file %s, as given", workflow.ClusterFile(cluster))
			case opts.Cluster != "":
				r.add(name, l, Approximated, "KubeOrch's cluster %q is the cluster file %s, as given", w.ClusterID, workflow.ClusterFile(cluster))
			case cluster == w.ClusterID:
				r.add(name, l, Mapped, "the cluster file %s, made if the repository lacks it", workflow.ClusterFile(cluster))
			default:
				r.add(name, l, Approximated, "KubeOrch's cluster %q is the cluster file %s, a DNS-safe form of its name, made if the repository lacks it", w.ClusterID, workflow.ClusterFile(cluster))
			}
		case "deleted_at":
			if w.Deleted {
				r.add(name, l, Approximated, "deleted in KubeOrch: the workflow is archived")
			} else {
				r.add(name, l, Dropped, "not deleted")
			}
		default:
			return false
		}
		return true
	})
	h.Status = workflow.Status(w.Status)
	switch {
	case w.Deleted:
		h.Status = workflow.StatusArchived
	case h.Status == "":
		h.Status = workflow.StatusDraft
	}
	h.Description = w.Description
	if name != w.Name {
		h.Description = strings.TrimSpace(w.Name + "\n\n" + w.Description)
	}
}

// mapVersionFields reports the fields of a version.
func mapVersionFields(name string, v *Version, authors Authors, r *Report) {
	reportFields(r, name, v.at, v.fields, versionRules, func(k string, l location) bool {
		switch k {
		case "version":
			r.add(name, l, Mapped, "the commit is version %d, with a KubeOrch-Version trailer", v.Number)
		case "created_by":
			switch a, ok := authors.author(v.CreatedBy); {
			case v.CreatedBy == "":
				r.add(name, l, Dropped, "no user: the commit's author is the importer")
			case ok:
				r.add(name, l, Mapped, "the commit's author, %s, from the authors file; the id is a KubeOrch-Created-By trailer", a)
			default:
				r.add(name, l, Approximated, "no author is named for this user (--authors): the commit's author is %s, an address that takes no mail; the id is a KubeOrch-Created-By trailer", a)
			}
		default:
			return false
		}
		return true
	})
}

// message is the commit message of a version of workflow name: the
// description's first line (or the version's name) as the subject, then
// the rest, then trailers with what KubeOrch knew of the version and, for
// `compiler versions`, the workflow's name.
func (v *Version) message(name string, w *Workflow) string {
	subject, body, _ := strings.Cut(strings.TrimSpace(v.Description), "\n")
	if subject == "" {
		subject = v.Name
	}
	if subject == "" {
		subject = fmt.Sprintf("Version %d of %s", v.Number, w.Name)
	}
	var b strings.Builder
	b.WriteString(subject + "\n")
	if body = strings.TrimSpace(body); body != "" {
		b.WriteString("\n" + body + "\n")
	}
	t := []string{"KubeOrch-Workflow", w.ID, gitrepo.KubeOrchVersionTrailer, fmt.Sprint(v.Number)}
	if v.Name != subject {
		t = append(t, "KubeOrch-Version-Name", v.Name)
	}
	t = append(t, "KubeOrch-Tag", v.Tag)
	if v.RestoredFrom > 0 {
		t = append(t, "KubeOrch-Restored-From", fmt.Sprint(v.RestoredFrom))
	}
	if v.Automatic {
		t = append(t, "KubeOrch-Automatic", "true")
	}
	t = append(t, "KubeOrch-Run-Status", v.RunStatus, "KubeOrch-Created-By", v.CreatedBy, gitrepo.WorkflowTrailer, name)
	return b.String() + trailers(t...)
}

// trailers returns message trailers from key, value pairs after a blank
// line; pairs with an empty value are left out.
func trailers(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if v := oneLine(kv[i+1]); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", kv[i], v)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n" + b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// DNSName returns a DNS-1123 label made from a display name: lower case,
// runs of other characters as one hyphen, at most 63 characters;
// "workflow" when nothing is left.
func DNSName(display string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(display) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
			continue
		}
		hyphen = true
	}
	s := b.String()
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		return "workflow"
	}
	return s
}

// missing says which versions of workflow name, from to to, are missing:
// `version 4 of "a" is`, or `versions 4..6 of "a" are`.
func missing(name string, from, to int) string {
	if from == to {
		return fmt.Sprintf("version %d of %q is", from, name)
	}
	return fmt.Sprintf("versions %d..%d of %q are", from, to, name)
}
