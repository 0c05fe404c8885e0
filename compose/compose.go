package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/slipway-gitops/slipway/workflow"
)

// Options say what to import.
type Options struct {
	// Files are the compose files, merged in order; the first one's
	// directory is the project directory.
	Files []string
	// Name is the workflow's name; it defaults to the project's.
	Name string
	// Status is the workflow's status; it defaults to draft.
	Status workflow.Status
	// Profiles enables services of these profiles.
	Profiles []string
	// Env is the environment for interpolation, as KEY=VALUE; the
	// project's .env file adds to it.
	Env []string
	// Root is the directory every file the import reads must be in,
	// symbolic links resolved; it defaults to the project directory.
	Root string
}

// Validate reports unusable options.
func (o Options) Validate() error {
	var errs []error
	if len(o.Files) == 0 {
		errs = append(errs, errors.New("at least one compose file is required"))
	}
	switch o.Status {
	case "", workflow.StatusDraft, workflow.StatusPublished, workflow.StatusArchived:
	default:
		errs = append(errs, fmt.Errorf("status %q must be draft, published or archived", o.Status))
	}
	return errors.Join(errs...)
}

// Result is an imported workflow.
type Result struct {
	// Workflow is the decoded, validated workflow.
	Workflow *workflow.Workflow
	// JSON is the workflow file.
	JSON []byte
	// Report lists what happened to every compose field.
	Report *Report
}

// Import loads compose files and maps them to a workflow.
func Import(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("compose import: %w", err)
	}
	files, err := confine(opts)
	if err != nil {
		return nil, fmt.Errorf("compose import: %w", err)
	}
	if err := files.follow(ctx, opts); err != nil {
		return nil, fmt.Errorf("compose import: %w", err)
	}
	srcs, err := readSources(opts.Files)
	if err != nil {
		return nil, fmt.Errorf("compose import: %w", err)
	}
	var keyErrs []error
	for _, src := range srcs {
		keyErrs = append(keyErrs, src.checkKeys()...)
	}
	if len(keyErrs) > 0 {
		return nil, fmt.Errorf("compose import: %w", errors.Join(keyErrs...))
	}
	project, err := load(ctx, opts)
	var errs []error
	if err != nil {
		errs = loadErrors(err, srcs)
	}
	errs = append(errs, checkReferences(srcs)...)
	switch {
	case len(errs) > 0:
		return nil, fmt.Errorf("compose import: %w", errors.Join(errs...))
	case err != nil:
		return nil, fmt.Errorf("compose import %s: %w", strings.Join(opts.Files, ", "), err)
	}
	b := newBuilder(project, opts)
	b.files = files
	if why := workflow.ReservedName(b.wf.Name); why != "" {
		return nil, fmt.Errorf("compose import %s: the workflow name %q is reserved (%s): give another name", strings.Join(opts.Files, ", "), b.wf.Name, why)
	}
	if err := b.build(); err != nil {
		return nil, err
	}
	// The file is written before validation, which completes the
	// workflow's specs as the renderer reads them.
	data, err := json.MarshalIndent(b.wf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("compose import: %w", err)
	}
	data = append(data, '\n')
	if err := workflow.Validate(workflow.WorkflowFile(b.wf.Name), b.wf); err != nil {
		return nil, fmt.Errorf("compose import made an invalid workflow (please report it): %w", err)
	}
	b.report.Files = opts.Files
	b.report.sort()
	return &Result{Workflow: b.wf, JSON: data, Report: b.report}, nil
}

// load loads the project with compose-go, which validates each file
// against the Compose Specification.
func load(ctx context.Context, opts Options) (*types.Project, error) {
	popts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(opts.Files[0])),
		cli.WithEnv(opts.Env),
		cli.WithEnvFiles(), // the project's .env
		cli.WithDotEnv,
		cli.WithProfiles(opts.Profiles),
		// env_file contents become ConfigMaps of their own, so they are
		// read below rather than merged into environment.
		cli.WithoutEnvironmentResolution,
		cli.WithResolvedPaths(true),
	}
	if opts.Name != "" {
		popts = append(popts, cli.WithName(normalize(opts.Name)))
	}
	po, err := cli.NewProjectOptions(opts.Files, popts...)
	if err != nil {
		return nil, err
	}
	return po.LoadProject(ctx)
}

// builder maps one loaded project.
type builder struct {
	project *types.Project
	opts    Options
	report  *Report
	// files reads the files of the project.
	files *confiner
	names *namer
	wf    *workflow.Workflow
	// services holds the workload of each compose service.
	services map[string]*service
	// shared nodes, by compose name or file path
	pvcs, secrets, configs, envFiles map[string]placed
	// ids holds the node ids taken: workloads reserve theirs first.
	ids map[string]bool
	// pvcUsers counts the services that mount each named volume.
	pvcUsers map[string]int
	// edges holds the pairs of nodes linked (source NUL target) and the
	// edge ids taken.
	edges map[string]bool
	// columns place nodes in the layered layout.
	columns [3]int
	// err is the first error of addNode.
	err error
}

// service is a compose service and the workload it became.
type service struct {
	config   types.ServiceConfig
	id, name string
	kind     workflow.Kind
	spec     workflow.Workload
	ctr      *workflow.Container
	ports    []workflow.ServicePort
	// svcType is the type of its Service, if it has one.
	svcType string
	// credentials are the names of variables moved to its Secret.
	credentials []string
}

func newBuilder(p *types.Project, opts Options) *builder {
	status := opts.Status
	if status == "" {
		status = workflow.StatusDraft
	}
	name := normalize(p.Name)
	return &builder{
		project: p, opts: opts, report: &Report{}, names: newNamer(),
		wf: &workflow.Workflow{
			Schema:      "../schemas/workflow.schema.json",
			Name:        name,
			Description: "Imported from " + strings.Join(baseNames(opts.Files), ", ") + ".",
			Status:      status,
			Nodes:       []workflow.Node{},
			Edges:       []workflow.Edge{},
		},
		services: map[string]*service{},
		pvcs:     map[string]placed{}, secrets: map[string]placed{}, configs: map[string]placed{}, envFiles: map[string]placed{},
		pvcUsers: map[string]int{}, edges: map[string]bool{}, ids: map[string]bool{},
	}
}

func baseNames(files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Base(f)
	}
	return out
}

// Layout columns: services in front, workloads in the middle, config and
// storage behind.
const (
	columnNetwork = iota
	columnWorkload
	columnConfig
)

// placed is a node shared by several services.
type placed struct{ id, name string }

// addNode appends a node in a layout column and returns its id: id, or,
// for all but workloads (whose ids are reserved), id with a number when
// another node has it.
func (b *builder) addNode(id string, kind workflow.Kind, column int, spec workflow.NodeSpec) string {
	if !kind.IsWorkload() {
		base := id
		for i := 2; b.ids[id]; i++ {
			id = base + "-" + strconv.Itoa(i)
		}
	}
	b.ids[id] = true
	data, err := json.Marshal(spec)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("compose import: %s node %s: %w", kind, id, err)
	}
	b.wf.Nodes = append(b.wf.Nodes, workflow.Node{
		ID: id, Type: kind, Data: data, Spec: spec,
		Position: workflow.Position{X: float64(column * 320), Y: float64(b.columns[column] * 140)},
	})
	b.columns[column]++
	return id
}

// addEdge links two nodes once: a service that mounts one volume, secret
// or config twice still has one edge to it.
func (b *builder) addEdge(source, target, handle string) {
	if b.edges[source+"\x00"+target] {
		return
	}
	b.edges[source+"\x00"+target] = true
	id := "e-" + source + "-" + target
	for i := 2; b.edges[id]; i++ {
		id = "e-" + source + "-" + target + "-" + strconv.Itoa(i)
	}
	b.edges[id] = true
	b.wf.Edges = append(b.wf.Edges, workflow.Edge{ID: id, Source: source, Target: target, TargetHandle: handle})
}

func (b *builder) build() error {
	names := slices.Sorted(maps.Keys(b.project.Services))
	if len(names) == 0 {
		return fmt.Errorf("compose import %s: no service to import (are they all in profiles that are not enabled?)", strings.Join(b.opts.Files, ", "))
	}
	for _, n := range names {
		for _, v := range b.project.Services[n].Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				b.pvcUsers[v.Source]++
			}
		}
	}
	// Kinds and names first: depends_on needs every service's.
	for _, n := range names {
		s := &service{config: b.project.Services[n]}
		s.name = b.names.name("workload", n)
		s.id = s.name
		b.ids[s.id] = true
		s.kind = b.kindOf(s)
		b.services[n] = s
	}
	for _, n := range names {
		if err := b.mapService(b.services[n]); err != nil {
			return err
		}
	}
	for _, n := range names {
		b.mapDependsOn(b.services[n])
		b.reportUnmapped(b.services[n])
	}
	b.reportTopLevel()
	return b.err
}

// field names a compose field of a service.
func field(s *service, f string) string { return "services." + s.config.Name + "." + f }

// kindOf decides what a service becomes and records why on the
// service's own report entry.
func (b *builder) kindOf(s *service) workflow.Kind {
	kind, why := b.decideKind(s)
	b.report.add(s.config.Name, "services."+s.config.Name, Mapped, "a %s: %s", kindTitle(kind), why)
	return kind
}

// decideKind returns the workload kind of a service and the reason. A
// service is a Job only when nothing says it serves, whatever its restart
// policy: a Job's pods cannot be selected by a Service or waited on.
func (b *builder) decideKind(s *service) (workflow.Kind, string) {
	c := s.config
	if k, ok := c.Labels["slipway.kind"]; ok {
		switch kind := workflow.Kind(strings.ToLower(k)); kind {
		case workflow.KindDeployment, workflow.KindStatefulSet, workflow.KindDaemonSet, workflow.KindJob, workflow.KindCronJob:
			b.report.add(c.Name, field(s, "labels.slipway.kind"), Mapped, "the service becomes a %s", kind)
			return kind, "the label slipway.kind says so"
		}
		b.report.add(c.Name, field(s, "labels.slipway.kind"), Dropped, "%q is not a workload kind", k)
	}
	if _, ok := c.Labels["slipway.schedule"]; ok {
		return workflow.KindCronJob, "the label slipway.schedule gives it a schedule"
	}
	if c.Deploy != nil && c.Deploy.Mode == "global" {
		b.report.add(c.Name, field(s, "deploy.mode"), Mapped, "global: a DaemonSet, one pod per node")
		return workflow.KindDaemonSet, `deploy.mode "global": one pod per node`
	}
	serves := b.serves(s)
	if c.Restart == "no" && serves == "" {
		b.report.add(c.Name, field(s, "restart"), Mapped, `"no": a one-shot Job`)
		return workflow.KindJob, `restart "no", and nothing says it serves (no ports, expose or healthcheck, and no service waits for its health)`
	}
	kind, why := workflow.KindDeployment, `it runs until stopped: restart is not "no"`
	if c.Restart == "no" {
		why = `restart "no", but ` + serves + ", so it serves and is kept running"
	}
	for _, v := range c.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			kind, why = workflow.KindStatefulSet, why+"; it mounts the named volume "+v.Source+", where its state lives"
			break
		}
	}
	if c.Restart != "" && c.Restart != "always" {
		b.report.add(c.Name, field(s, "restart"), Approximated, "%q: a %s's pods always restart", c.Restart, kindTitle(kind))
	}
	return kind, why
}

// kindTitle is the Kubernetes name of a workload kind.
func kindTitle(k workflow.Kind) string {
	switch k {
	case workflow.KindStatefulSet:
		return "StatefulSet"
	case workflow.KindDaemonSet:
		return "DaemonSet"
	case workflow.KindJob:
		return "Job"
	case workflow.KindCronJob:
		return "CronJob"
	}
	return "Deployment"
}

// serves says what marks a service as a server, or returns "" when
// nothing does.
func (b *builder) serves(s *service) string {
	c := s.config
	switch {
	case len(c.Ports) > 0:
		return "it publishes ports"
	case len(c.Expose) > 0:
		return "it exposes ports"
	case c.HealthCheck != nil && !c.HealthCheck.Disable && len(c.HealthCheck.Test) > 0 && c.HealthCheck.Test[0] != "NONE":
		return "it has a healthcheck"
	}
	for _, n := range slices.Sorted(maps.Keys(b.project.Services)) {
		if d, ok := b.project.Services[n].DependsOn[c.Name]; ok && d.Condition == types.ServiceConditionHealthy {
			return "service " + n + " waits for it to be healthy"
		}
	}
	return ""
}

func (b *builder) mapService(s *service) error {
	c := s.config
	meta := workflow.Meta{Name: s.name}
	ctr := workflow.Container{}
	s.ctr = &ctr
	if err := b.mapImage(s, &ctr); err != nil {
		return err
	}
	if len(c.Entrypoint) > 0 {
		ctr.Command = c.Entrypoint
		b.report.add(c.Name, field(s, "entrypoint"), Mapped, "command: %s", words(len(c.Entrypoint)))
	}
	if len(c.Command) > 0 {
		ctr.Args = c.Command
		b.report.add(c.Name, field(s, "command"), Mapped, "args: %s", words(len(c.Command)))
	}
	b.mapLabels(s, &meta)
	b.mapEnvironment(s, &ctr)
	if err := b.mapEnvFiles(s); err != nil {
		return err
	}
	b.mapPorts(s, &ctr)
	b.mapHealthcheck(s, &ctr)
	b.mapResources(s, &ctr)
	var replicas *int64
	if c.Deploy != nil && c.Deploy.Replicas != nil {
		replicas = ptr(int64(*c.Deploy.Replicas))
		b.report.add(c.Name, field(s, "deploy.replicas"), Mapped, "replicas: %d", *c.Deploy.Replicas)
	} else if c.Scale != nil {
		replicas = ptr(int64(*c.Scale))
		b.report.add(c.Name, field(s, "scale"), Mapped, "replicas: %d", *c.Scale)
	}
	b.mapVolumes(s, &ctr)
	b.mapSecrets(s, &ctr)
	if err := b.mapConfigs(s, &ctr); err != nil {
		return err
	}
	b.mapCredentials(s, &ctr)

	switch s.kind {
	case workflow.KindStatefulSet:
		s.spec = &workflow.StatefulSetData{Meta: meta, Container: ctr, ServiceName: governingService(s, replicas), Replicas: replicas}
	case workflow.KindDaemonSet:
		s.spec = &workflow.DaemonSetData{Meta: meta, Container: ctr}
	case workflow.KindJob:
		s.spec = &workflow.JobData{Meta: meta, Container: ctr, JobSpec: b.jobSpec(s)}
	case workflow.KindCronJob:
		schedule := c.Labels["slipway.schedule"]
		if schedule == "" || !validSchedule(schedule) {
			if schedule != "" {
				b.report.add(c.Name, field(s, "labels.slipway.schedule"), Dropped, "%q is not a five-field cron schedule", schedule)
			}
			schedule = "0 0 * * *"
			b.report.add(c.Name, field(s, "labels.slipway.kind"), Approximated, "a CronJob without a valid label slipway.schedule runs daily at midnight")
		} else {
			b.report.add(c.Name, field(s, "labels.slipway.schedule"), Mapped, "a CronJob on %q", schedule)
		}
		s.spec = &workflow.CronJobData{Meta: meta, Container: ctr, JobSpec: b.jobSpec(s), Schedule: schedule, ConcurrencyPolicy: "Forbid"}
	default:
		s.spec = &workflow.DeploymentData{Meta: meta, Container: ctr, Replicas: replicas}
	}
	b.insertWorkload(s)
	return nil
}

// governingService names the Service that gives a StatefulSet's pods their
// DNS names. It is the service's own name, whose Service is drawn for its
// ports or, without ports, rendered headless; a replicated StatefulSet
// whose ports draw an ordinary Service gets a headless one of its own
// beside it, since the ordinary one gives its pods no names.
func governingService(s *service, replicas *int64) string {
	if len(s.ports) == 0 || replicas == nil || *replicas <= 1 {
		return s.name
	}
	const suffix, maxName = "-pods", 63 // DNS-1035 labels
	return strings.TrimRight(s.name[:min(len(s.name), maxName-len(suffix))], "-") + suffix
}

// insertWorkload adds the workload node and its Service.
func (b *builder) insertWorkload(s *service) {
	b.addNode(s.id, s.kind, columnWorkload, s.spec)
	if len(s.ports) == 0 {
		return
	}
	svc := workflow.ServiceData{Meta: workflow.Meta{Name: s.name}, ServiceType: s.svcType}
	if len(s.ports) == 1 {
		svc.Port, svc.TargetPort = s.ports[0].Port, s.ports[0].TargetPort
		if s.ports[0].NodePort != 0 || (s.ports[0].Protocol != "" && s.ports[0].Protocol != "TCP") {
			svc.Port, svc.TargetPort = 0, 0
			svc.Ports = s.ports
		}
	} else {
		svc.Ports = s.ports
	}
	id := b.addNode(s.id+"-svc", workflow.KindService, columnNetwork, &svc)
	b.addEdge(id, s.id, "")
}

func (b *builder) jobSpec(s *service) workflow.JobSpec {
	j := workflow.JobSpec{RestartPolicy: "Never", BackoffLimit: ptr(int64(0))}
	if r := s.config.Restart; strings.HasPrefix(r, "on-failure") {
		j.RestartPolicy = "OnFailure"
		j.BackoffLimit = nil
		b.report.add(s.config.Name, field(s, "restart"), Mapped, "%q: restartPolicy OnFailure", r)
	}
	return j
}

func (b *builder) mapImage(s *service, ctr *workflow.Container) error {
	c := s.config
	if c.Image != "" {
		if _, err := reference.ParseNormalizedNamed(c.Image); err != nil {
			return fmt.Errorf("compose import %s: %s: %q is not a valid image reference: %w", strings.Join(b.opts.Files, ", "), field(s, "image"), c.Image, err)
		}
	}
	ctr.Image = c.Image
	if c.Image != "" {
		b.report.add(c.Name, field(s, "image"), Mapped, "image %s", c.Image)
	}
	if c.Build == nil {
		return nil
	}
	ctx := c.Build.Context
	if rel, err := filepath.Rel(b.project.WorkingDir, ctx); err == nil && !strings.HasPrefix(rel, "..") {
		ctx = filepath.ToSlash(rel)
	}
	ctr.Build = &workflow.BuildSpec{Context: ctx, Dockerfile: c.Build.Dockerfile, Target: c.Build.Target}
	if ctr.Build.Dockerfile == "Dockerfile" {
		ctr.Build.Dockerfile = ""
	}
	for k, v := range c.Build.Args {
		if v != nil {
			if ctr.Build.Args == nil {
				ctr.Build.Args = map[string]string{}
			}
			ctr.Build.Args[k] = *v
		}
	}
	if c.Image == "" {
		ctr.Image = normalize(b.project.Name) + "-" + s.name + ":latest"
		b.report.add(c.Name, field(s, "build"), Approximated, "marked for a build of %s; the image is %s until a build sets it", ctx, ctr.Image)
		return nil
	}
	b.report.add(c.Name, field(s, "build"), Mapped, "marked for a build of %s into %s", ctx, c.Image)
	return nil
}

func (b *builder) mapLabels(s *service, meta *workflow.Meta) {
	for _, k := range slices.Sorted(maps.Keys(s.config.Labels)) {
		if strings.HasPrefix(k, "slipway.") {
			continue // directives, reported where they act
		}
		v := s.config.Labels[k]
		f := field(s, "labels."+k)
		if validLabel(k, v) {
			if meta.Labels == nil {
				meta.Labels = map[string]string{}
			}
			meta.Labels[k] = v
			b.report.add(s.config.Name, f, Mapped, "label")
			continue
		}
		if len(content.IsLabelKey(k)) > 0 {
			b.report.add(s.config.Name, f, Dropped, "not a valid Kubernetes label or annotation key")
			continue
		}
		if meta.Annotations == nil {
			meta.Annotations = map[string]string{}
		}
		meta.Annotations[k] = v
		b.report.add(s.config.Name, f, Approximated, "an annotation: not a valid Kubernetes label")
	}
}

// mapEnvironment keeps literal variables, moves credentials to the
// service's Secret and drops variables without a value.
func (b *builder) mapEnvironment(s *service, ctr *workflow.Container) {
	env := s.config.Environment.Resolve(b.project.Environment.Resolve)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		f := field(s, "environment."+k)
		v := env[k]
		switch {
		case v == nil:
			b.report.add(s.config.Name, f, Dropped, "no value: it is not set in the environment or .env")
		case !validEnvName(k):
			b.report.add(s.config.Name, f, Dropped, "not a valid Kubernetes variable name")
		case (workflow.LooksLikeCredential(k) || workflow.HoldsSecret(*v) != "") && *v != "":
			s.credentials = append(s.credentials, k)
			b.report.add(s.config.Name, f, Approximated, "a credential: key %s of Secret %s-credentials; its value is not imported", k, s.name)
		default:
			if ctr.Env == nil {
				ctr.Env = map[string]string{}
			}
			ctr.Env[k] = *v
			b.report.add(s.config.Name, f, Mapped, "env")
		}
	}
}

// mapEnvFiles makes each env_file a ConfigMap loaded with envFrom.
func (b *builder) mapEnvFiles(s *service) error {
	for i, ef := range s.config.EnvFiles {
		f := field(s, fmt.Sprintf("env_file[%d]", i))
		cm, done := b.envFiles[ef.Path]
		if !done {
			content, err := b.files.read(ef.Path, maxFile)
			if errors.Is(err, os.ErrNotExist) && !bool(ef.Required) {
				b.report.add(s.config.Name, f, Dropped, "%s does not exist (optional)", filepath.Base(ef.Path))
				continue
			}
			if err != nil {
				return fmt.Errorf("compose import: %s: %w", f, err)
			}
			vars, err := parseEnvFile(ef.Path, content, b.project.Environment)
			if err != nil {
				return err
			}
			data := map[string]string{}
			for k, v := range vars {
				if workflow.LooksLikeCredential(k) || workflow.HoldsSecret(v) != "" {
					s.credentials = append(s.credentials, k)
					b.report.add(s.config.Name, f+"."+k, Approximated, "a credential: key %s of Secret %s-credentials; its value is not imported", k, s.name)
					continue
				}
				if !validEnvName(k) {
					b.report.add(s.config.Name, f+"."+k, Dropped, "not a valid Kubernetes variable name")
					continue
				}
				data[k] = v
			}
			name := b.names.name("configmap", s.name+"-"+strings.TrimPrefix(filepath.Base(ef.Path), "."))
			cm = placed{b.addNode("cm-"+name, workflow.KindConfigMap, columnConfig, &workflow.ConfigMapData{Meta: workflow.Meta{Name: name}, Data: data}), name}
			b.envFiles[ef.Path] = cm
		}
		b.addEdge(cm.id, s.id, workflow.EnvFromHandle)
		b.report.add(s.config.Name, f, Mapped, "ConfigMap %s loaded with envFrom", cm.name)
	}
	return nil
}

// mapCredentials makes the service's Secret for the credentials found in
// its environment, referenced key by key.
func (b *builder) mapCredentials(s *service, ctr *workflow.Container) {
	if len(s.credentials) == 0 {
		return
	}
	slices.Sort(s.credentials)
	s.credentials = slices.Compact(s.credentials)
	name := b.names.name("secret", s.name+"-credentials")
	keys := make([]workflow.SecretKey, 0, len(s.credentials))
	for _, k := range s.credentials {
		keys = append(keys, workflow.SecretKey{Name: k})
		ctr.EnvKeys = append(ctr.EnvKeys, workflow.EnvVarEntry{Name: k, SecretKeyRef: &workflow.KeyRef{Name: name, Key: k}})
	}
	b.addNode("secret-"+name, workflow.KindSecret, columnConfig, &workflow.SecretData{Meta: workflow.Meta{Name: name}, SecretType: "Opaque", Keys: keys})
}

// mapPorts exposes every port: published ones and expose alike.
func (b *builder) mapPorts(s *service, ctr *workflow.Container) {
	c := s.config
	if s.kind == workflow.KindJob || s.kind == workflow.KindCronJob {
		// The label slipway.kind made a server a Job: a Service cannot
		// select a Job's pods.
		for i := range c.Ports {
			b.report.add(c.Name, field(s, fmt.Sprintf("ports[%d]", i)), Dropped, "a %s's pods cannot be selected by a Service", kindTitle(s.kind))
		}
		for i := range c.Expose {
			b.report.add(c.Name, field(s, fmt.Sprintf("expose[%d]", i)), Dropped, "a %s's pods cannot be selected by a Service", kindTitle(s.kind))
		}
		return
	}
	published := false
	seen := map[string]bool{}
	addPort := func(target int64, proto string) {
		key := fmt.Sprintf("%s-%d", strings.ToLower(proto), target)
		if seen[key] {
			return
		}
		seen[key] = true
		if ctr.Port == 0 && proto == "TCP" {
			ctr.Port = target
		} else {
			ctr.Ports = append(ctr.Ports, workflow.ContainerPort{Name: key, Port: target, Protocol: proto})
		}
		s.ports = append(s.ports, workflow.ServicePort{Name: key, Protocol: proto, Port: target, TargetPort: target})
	}
	for i, p := range c.Ports {
		f := field(s, fmt.Sprintf("ports[%d]", i))
		proto := strings.ToUpper(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		addPort(int64(p.Target), proto)
		switch {
		case p.Published == "":
			b.report.add(c.Name, f, Mapped, "service port %d/%s", p.Target, proto)
		case p.Published == fmt.Sprint(p.Target):
			published = true
			b.report.add(c.Name, f, Approximated, "service port %d/%s; published through a NodePort the cluster assigns", p.Target, proto)
		default:
			published = true
			b.report.add(c.Name, f, Approximated, "service port %d/%s (in-cluster clients use the container port); host port %s becomes a NodePort the cluster assigns", p.Target, proto, p.Published)
		}
	}
	for i, e := range c.Expose {
		var port int64
		if _, err := fmt.Sscan(e, &port); err != nil || port < 1 || port > 65535 {
			b.report.add(c.Name, field(s, fmt.Sprintf("expose[%d]", i)), Dropped, "%q is not a port", e)
			continue
		}
		addPort(port, "TCP")
		b.report.add(c.Name, field(s, fmt.Sprintf("expose[%d]", i)), Mapped, "service port %d", port)
	}
	if len(s.ports) == 0 {
		return
	}
	s.svcType = "ClusterIP"
	if published {
		s.svcType = "NodePort"
	}
	if t, ok := c.Labels["slipway.service-type"]; ok {
		switch t {
		case "ClusterIP", "NodePort", "LoadBalancer":
			s.svcType = t
			b.report.add(c.Name, field(s, "labels.slipway.service-type"), Mapped, "Service of type %s", t)
		default:
			b.report.add(c.Name, field(s, "labels.slipway.service-type"), Dropped, "%q is not ClusterIP, NodePort or LoadBalancer", t)
		}
	}
	// Port names are needed only when there are several.
	if len(s.ports) == 1 {
		s.ports[0].Name = ""
	}
}

func (b *builder) mapHealthcheck(s *service, ctr *workflow.Container) {
	h := s.config.HealthCheck
	if h == nil {
		return
	}
	f := field(s, "healthcheck")
	if h.Disable || len(h.Test) == 0 || h.Test[0] == "NONE" {
		b.report.add(s.config.Name, f, Mapped, "disabled: no probe")
		return
	}
	var cmd []string
	switch h.Test[0] {
	case "CMD":
		cmd = h.Test[1:]
	case "CMD-SHELL":
		cmd = []string{"sh", "-c", strings.Join(h.Test[1:], " ")}
	default:
		cmd = []string{"sh", "-c", strings.Join(h.Test, " ")}
	}
	p := &workflow.Probe{Command: cmd}
	seconds := func(d *types.Duration) *int64 {
		if d == nil {
			return nil
		}
		n := (int64(*d) + 999_999_999) / 1_000_000_000
		return ptr(max(n, 1))
	}
	p.PeriodSeconds = seconds(h.Interval)
	p.TimeoutSeconds = seconds(h.Timeout)
	p.InitialDelaySeconds = seconds(h.StartPeriod)
	if h.Retries != nil && *h.Retries > 0 {
		p.FailureThreshold = ptr(int64(*h.Retries))
	}
	ctr.ReadinessProbe = p
	b.report.add(s.config.Name, f, Approximated, "a readiness probe: compose health gates depends_on, not restarts")
}

func (b *builder) mapResources(s *service, ctr *workflow.Container) {
	d := s.config.Deploy
	if d == nil {
		return
	}
	list := func(r *types.Resource, what string) *workflow.ResourceList {
		if r == nil || (r.NanoCPUs == 0 && r.MemoryBytes == 0) {
			return nil
		}
		l := &workflow.ResourceList{}
		if r.NanoCPUs > 0 {
			l.CPU = fmt.Sprintf("%dm", int64(float64(r.NanoCPUs)*1000+0.5))
		}
		if r.MemoryBytes > 0 {
			l.Memory = memory(int64(r.MemoryBytes))
		}
		b.report.add(s.config.Name, field(s, "deploy.resources."+what), Mapped, "resources.%s", map[string]string{"limits": "limits", "reservations": "requests"}[what])
		return l
	}
	limits, reservations := d.Resources.Limits, d.Resources.Reservations
	if limits != nil && reservations != nil {
		// A request above its limit is invalid in Kubernetes; compose
		// leaves it to the engine.
		r := *reservations
		if limits.NanoCPUs > 0 && r.NanoCPUs > limits.NanoCPUs {
			r.NanoCPUs = limits.NanoCPUs
			b.report.add(s.config.Name, field(s, "deploy.resources.reservations.cpus"), Approximated, "lowered to the limit, %dm: a request cannot exceed its limit", int64(float64(limits.NanoCPUs)*1000+0.5))
		}
		if limits.MemoryBytes > 0 && r.MemoryBytes > limits.MemoryBytes {
			r.MemoryBytes = limits.MemoryBytes
			b.report.add(s.config.Name, field(s, "deploy.resources.reservations.memory"), Approximated, "lowered to the limit, %s: a request cannot exceed its limit", memory(int64(limits.MemoryBytes)))
		}
		reservations = &r
	}
	res := &workflow.Resources{Limits: list(limits, "limits"), Requests: list(reservations, "reservations")}
	if res.Limits != nil || res.Requests != nil {
		ctr.Resources = res
	}
}

// memory writes a byte count as a Kubernetes quantity in binary units.
func memory(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

// mapVolumes turns named volumes into PVCs and single-file bind mounts
// into ConfigMaps; the rest has no equivalent.
func (b *builder) mapVolumes(s *service, ctr *workflow.Container) {
	for i, v := range s.config.Volumes {
		f := field(s, fmt.Sprintf("volumes[%d]", i))
		switch {
		case v.Type == types.VolumeTypeVolume && v.Source != "":
			pv, ok := b.pvcs[v.Source]
			if !ok {
				name := b.names.name("pvc", v.Source)
				pvc := workflow.PersistentVolumeClaimData{Meta: workflow.Meta{Name: name}, AccessModes: []string{"ReadWriteOnce"}, Storage: "1Gi"}
				if b.pvcUsers[v.Source] > 1 {
					pvc.AccessModes = []string{"ReadWriteMany"}
				}
				pv = placed{b.addNode("pvc-"+name, workflow.KindPersistentVolumeClaim, columnConfig, &pvc), name}
				b.pvcs[v.Source] = pv
			}
			id, name := pv.id, pv.name
			ctr.VolumeMounts = append(ctr.VolumeMounts, workflow.VolumeMount{NodeID: id, Type: "persistentVolumeClaim", Name: name, MountPath: v.Target, ReadOnly: v.ReadOnly})
			b.addEdge(id, s.id, "")
			detail := "PersistentVolumeClaim %s (1Gi, ReadWriteOnce: set the size) at %s"
			if b.pvcUsers[v.Source] > 1 {
				detail = "PersistentVolumeClaim %s (1Gi, ReadWriteMany because several services share it: it needs a storage class that supports that) at %s"
			}
			b.report.add(s.config.Name, f, Approximated, detail, name, v.Target)
		case v.Type == types.VolumeTypeVolume:
			b.report.add(s.config.Name, f, Dropped, "anonymous volume at %s: the workflow model has no emptyDir", v.Target)
		case v.Type == types.VolumeTypeBind:
			b.mapBindMount(s, ctr, f, v)
		default:
			b.report.add(s.config.Name, f, Dropped, "%s volume at %s has no equivalent", v.Type, v.Target)
		}
	}
}

// maxBindFile bounds a bind-mounted file copied into a ConfigMap.
const maxBindFile = 256 << 10

func (b *builder) mapBindMount(s *service, ctr *workflow.Container, f string, v types.ServiceVolumeConfig) {
	base := hostBase(v.Source)
	st, err := b.files.stat(v.Source)
	switch {
	case errors.Is(err, errOutside):
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s, outside the project directory: not read", base)
		return
	case err != nil:
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s, which is not there to copy; Kubernetes nodes do not have the host's files", base)
		return
	case st.IsDir():
		b.report.add(s.config.Name, f, Dropped, "bind mount of directory %s: Kubernetes nodes do not have the host's files", base)
		return
	case !st.Mode().IsRegular():
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s, not a regular file: not read", base)
		return
	case st.Size() > maxBindFile:
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s, larger than %d KiB, too big for a ConfigMap", base, maxBindFile>>10)
		return
	case workflow.LooksLikeCredential(base):
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s, whose name says it holds a credential: not read; supply it as a Secret", base)
		return
	}
	content, err := b.files.read(v.Source, maxBindFile)
	if err != nil {
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s: not copied (unreadable)", base)
		return
	}
	if what := workflow.HoldsSecret(string(content)); what != "" {
		b.report.add(s.config.Name, f, Dropped, "bind mount of %s: not copied, it holds %s; supply it as a Secret", base, what)
		return
	}
	key := filepath.Base(v.Source)
	name := b.names.name("configmap", s.name+"-"+key)
	id := b.addNode("cm-"+name, workflow.KindConfigMap, columnConfig, &workflow.ConfigMapData{Meta: workflow.Meta{Name: name}, Data: map[string]string{key: string(content)}})
	ctr.VolumeMounts = append(ctr.VolumeMounts, workflow.VolumeMount{NodeID: id, Type: "configMap", Name: name, MountPath: v.Target, SubPath: key, ReadOnly: true})
	b.addEdge(id, s.id, "")
	b.report.add(s.config.Name, f, Approximated, "file %s copied into ConfigMap %s, mounted read-only at %s", key, name, v.Target)
}

// hostBase returns the last element of a host path, which may be a
// Windows one (C:\data) that compose-go keeps as written.
func hostBase(p string) string {
	p = strings.TrimRight(p, `/\`)
	return p[strings.LastIndexAny(p, `/\`)+1:]
}

// mapSecrets makes each compose secret a Secret node of key names only,
// mounted where compose mounts it. The secret's file is never opened.
func (b *builder) mapSecrets(s *service, ctr *workflow.Container) {
	for i, ref := range s.config.Secrets {
		f := field(s, fmt.Sprintf("secrets[%d]", i))
		key := normalizeKey(ref.Source)
		sec, ok := b.secrets[ref.Source]
		if !ok {
			name := b.names.name("secret", ref.Source)
			sec = placed{b.addNode("secret-"+name, workflow.KindSecret, columnConfig, &workflow.SecretData{Meta: workflow.Meta{Name: name}, SecretType: "Opaque", Keys: []workflow.SecretKey{{Name: key}}}), name}
			b.secrets[ref.Source] = sec
		}
		id, name := sec.id, sec.name
		target := ref.Target
		switch {
		case target == "":
			target = "/run/secrets/" + ref.Source
		case !strings.HasPrefix(target, "/"):
			target = "/run/secrets/" + target
		}
		ctr.VolumeMounts = append(ctr.VolumeMounts, workflow.VolumeMount{NodeID: id, Type: "secret", Name: name, MountPath: target, SubPath: key, ReadOnly: true})
		b.addEdge(id, s.id, "")
		b.report.add(s.config.Name, f, Mapped, "Secret %s, key %s, mounted at %s; the value is not read: create the Secret in the cluster", name, key, target)
	}
}

// mapConfigs makes each compose config a ConfigMap with its content.
func (b *builder) mapConfigs(s *service, ctr *workflow.Container) error {
	for i, ref := range s.config.Configs {
		f := field(s, fmt.Sprintf("configs[%d]", i))
		cfg := b.project.Configs[ref.Source]
		key := normalizeKey(ref.Source)
		cm, ok := b.configs[ref.Source]
		if !ok {
			var content string
			switch {
			case cfg.Content != "":
				content = cfg.Content
			case cfg.File != "":
				raw, err := b.files.read(cfg.File, maxFile)
				if errors.Is(err, os.ErrNotExist) {
					b.report.add(s.config.Name, f, Dropped, "config file %s cannot be read: %v", filepath.Base(cfg.File), errors.Unwrap(err))
					continue
				}
				if err != nil {
					return fmt.Errorf("compose import: configs.%s.file: %w", ref.Source, err)
				}
				content = string(raw)
			default:
				b.report.add(s.config.Name, f, Dropped, "config %s has no file or content (external or from the environment)", ref.Source)
				continue
			}
			name := b.names.name("configmap", ref.Source)
			cm = placed{b.addNode("cm-"+name, workflow.KindConfigMap, columnConfig, &workflow.ConfigMapData{Meta: workflow.Meta{Name: name}, Data: map[string]string{key: content}}), name}
			b.configs[ref.Source] = cm
		}
		id, name := cm.id, cm.name
		target := ref.Target
		if target == "" {
			target = "/" + ref.Source
		}
		ctr.VolumeMounts = append(ctr.VolumeMounts, workflow.VolumeMount{NodeID: id, Type: "configMap", Name: name, MountPath: target, SubPath: key, ReadOnly: true})
		b.addEdge(id, s.id, "")
		b.report.add(s.config.Name, f, Mapped, "ConfigMap %s mounted at %s", name, target)
	}
	return nil
}

// mapDependsOn draws an edge to each dependency that has a port, so that
// the service waits for it.
func (b *builder) mapDependsOn(s *service) {
	for _, dep := range slices.Sorted(maps.Keys(s.config.DependsOn)) {
		f := field(s, "depends_on."+dep)
		d, ok := b.services[dep]
		if !ok {
			b.report.add(s.config.Name, f, Dropped, "service %s is not imported (another profile?)", dep)
			continue
		}
		cond := s.config.DependsOn[dep].Condition
		if len(d.ports) == 0 {
			b.report.add(s.config.Name, f, Dropped, "%s has no port to wait on; %s starts without waiting (%s)", dep, s.config.Name, cond)
			continue
		}
		if cond == types.ServiceConditionCompletedSuccessfully {
			b.report.add(s.config.Name, f, Approximated, "waits until %s answers on port %d, not until it completes", dep, d.ports[0].Port)
		} else {
			b.report.add(s.config.Name, f, Mapped, "waits until %s answers on port %d (init container)", dep, d.ports[0].Port)
		}
		b.addEdge(s.id, d.id, "")
	}
}

// reportUnmapped reports, as dropped, every field of a service that no
// mapping reported.
func (b *builder) reportUnmapped(s *service) {
	for _, name := range setFields(reflect.ValueOf(s.config)) {
		f := field(s, name)
		if b.report.covers(f) {
			continue
		}
		switch name {
		case "networks":
			b.report.add(s.config.Name, f, Dropped, "a cluster has one flat network; use networkpolicy nodes to restrict traffic")
		case "container_name":
			b.report.add(s.config.Name, f, Dropped, "Kubernetes names pods; other services reach this one by its service name %s", s.name)
		case "profiles":
			b.report.add(s.config.Name, f, Mapped, "imported: its profile was enabled")
		case "restart":
			b.report.add(s.config.Name, f, Mapped, "%q: pods of a %s restart", s.config.Restart, s.kind)
		case "labels", "environment", "volumes", "ports":
		default:
			b.report.add(s.config.Name, f, Dropped, "not in the workflow model")
		}
	}
}

// reportTopLevel reports the project's own sections.
func (b *builder) reportTopLevel() {
	p := b.project
	for _, n := range slices.Sorted(maps.Keys(p.Networks)) {
		b.report.add("", "networks."+n, Dropped, "a cluster has one flat network")
	}
	for _, n := range slices.Sorted(maps.Keys(p.Volumes)) {
		if pv, ok := b.pvcs[n]; ok {
			b.report.add("", "volumes."+n, Mapped, "PersistentVolumeClaim %s", pv.name)
		} else {
			b.report.add("", "volumes."+n, Dropped, "no service mounts it")
		}
	}
	for _, n := range slices.Sorted(maps.Keys(p.Secrets)) {
		if sec, ok := b.secrets[n]; ok {
			b.report.add("", "secrets."+n, Mapped, "Secret %s, key names only; the file is never read", sec.name)
		} else {
			b.report.add("", "secrets."+n, Dropped, "no service uses it")
		}
	}
	for _, n := range slices.Sorted(maps.Keys(p.Configs)) {
		if cm, ok := b.configs[n]; ok {
			b.report.add("", "configs."+n, Mapped, "ConfigMap %s", cm.name)
		} else {
			b.report.add("", "configs."+n, Dropped, "no service uses it or it could not be read")
		}
	}
}

// setFields lists the compose names of the fields of a service that are
// set, descending into inline structs.
func setFields(v reflect.Value) []string {
	var out []string
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || strings.HasPrefix(tag, "#") || sf.Tag.Get("json") == "-" && tag == "name" {
			continue
		}
		fv := v.Field(i)
		if strings.Contains(sf.Tag.Get("yaml"), ",inline") && sf.Type.Kind() == reflect.Struct {
			out = append(out, setFields(fv)...)
			continue
		}
		if tag == "" || fv.IsZero() {
			continue
		}
		if (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice) && fv.Len() == 0 {
			continue
		}
		out = append(out, tag)
	}
	slices.Sort(out)
	return out
}

func ptr[T any](v T) *T { return &v }

func words(n int) string {
	if n == 1 {
		return "1 word"
	}
	return fmt.Sprintf("%d words", n)
}
