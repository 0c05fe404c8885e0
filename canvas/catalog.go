package canvas

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/source"
	"github.com/slipway-gitops/slipway/workflow"
	"github.com/slipway-gitops/slipway/workflow/plugins"
)

// Template is a node kind the editor's palette offers, in its shape.
type Template struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	DisplayName    string      `json:"displayName"`
	Category       string      `json:"category"`
	Description    string      `json:"description"`
	Icon           string      `json:"icon"`
	Version        string      `json:"version"`
	Tags           []string    `json:"tags"`
	UsageFrequency string      `json:"usageFrequency"`
	Difficulty     string      `json:"difficulty"`
	Dependencies   []string    `json:"dependencies"`
	Parameters     []Parameter `json:"parameters"`
	IsPlugin       bool        `json:"isPlugin,omitempty"`
	PluginID       string      `json:"pluginId,omitempty"`
}

// Parameter is a field of a plugin node type, as the editor's settings
// panel draws it.
type Parameter struct {
	Name        string   `json:"name"`
	Label       string   `json:"label"`
	Description string   `json:"description"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Default     any      `json:"default,omitempty"`
	Options     []Option `json:"options,omitempty"`
}

// Option is a choice of a select parameter.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// coreKind describes a core node kind in the palette.
type coreKind struct {
	kind        workflow.Kind
	displayName string
	icon        string
	description string
	tags        []string
}

// coreKinds are the twelve core kinds Slipway renders, in the palette's
// order; the editor draws each with its own settings panel.
var coreKinds = []coreKind{
	{workflow.KindDeployment, "Deployment", "Package", "Stateless containers, rolled out and scaled", []string{"workload", "containers"}},
	{workflow.KindService, "Service", "Network", "A stable address in front of a workload's pods", []string{"networking"}},
	{workflow.KindIngress, "Ingress", "Globe", "HTTP routes from outside the cluster to services", []string{"networking", "http"}},
	{workflow.KindConfigMap, "ConfigMap", "FileSliders", "Configuration for workloads, as files or environment", []string{"configuration"}},
	{workflow.KindSecret, "Secret", "Lock", "Secret values, never in git in plaintext", []string{"configuration", "security"}},
	{workflow.KindPersistentVolumeClaim, "PersistentVolumeClaim", "HardDrive", "Storage that outlives pods", []string{"storage"}},
	{workflow.KindStatefulSet, "StatefulSet", "Database", "Workloads with stable names and storage", []string{"workload", "storage"}},
	{workflow.KindJob, "Job", "Play", "Work that runs to completion", []string{"workload", "batch"}},
	{workflow.KindCronJob, "CronJob", "Clock", "Jobs on a schedule", []string{"workload", "batch"}},
	{workflow.KindDaemonSet, "DaemonSet", "Layers", "A pod on every node", []string{"workload"}},
	{workflow.KindHPA, "HorizontalPodAutoscaler", "TrendingUp", "Replicas that follow load", []string{"scaling"}},
	{workflow.KindNetworkPolicy, "NetworkPolicy", "Shield", "Which pods may talk to which", []string{"networking", "security"}},
}

// registerCatalog adds the routes of what the editor may draw: clusters,
// templates and plugins.
func (s *Server) registerCatalog(r fiber.Router) {
	r.Get("/clusters", s.requireUser, s.listClusters)
	r.Get("/clusters/:name", s.requireUser, s.getCluster)
	r.Get("/templates", s.requireUser, s.templates)
	r.Get("/plugins", s.requireUser, s.listPlugins)
	r.Get("/plugins/enabled", s.requireUser, s.listPlugins)
}

// Cluster is a cluster of the repository (clusters/<name>.json) in the
// editor's shape.
type Cluster struct {
	ID          string                    `json:"id"`
	Name        string                    `json:"name"`
	DisplayName string                    `json:"displayName"`
	Description string                    `json:"description,omitempty"`
	Server      string                    `json:"server"`
	AuthType    string                    `json:"authType"`
	Status      string                    `json:"status"`
	Default     bool                      `json:"default"`
	Metadata    *workflow.ClusterMetadata `json:"metadata,omitempty"`
	Labels      map[string]string         `json:"labels,omitempty"`
}

// ClusterList is the answer of GET /clusters.
type ClusterList struct {
	Clusters []Cluster `json:"clusters"`
	// Default names the default cluster, or is null.
	Default *string `json:"default"`
}

// clusters returns the repository's clusters at the source branch's head.
func (s *Server) clusters(c *fiber.Ctx) (*ClusterList, error) {
	head, err := s.head(c.UserContext())
	if err != nil {
		return nil, err
	}
	files, err := s.opts.Source.Source(head)
	if err != nil {
		return nil, err
	}
	repo, err := s.loader.Load(c.UserContext(), files)
	if err != nil {
		return nil, err
	}
	clusters := repo.Clusters
	if len(clusters) == 0 {
		// A repository without cluster files deploys to the default
		// cluster; the editor offers no workflow without a cluster.
		clusters = []*workflow.Cluster{{Name: workflow.DefaultCluster, Default: true}}
	}
	statuses, err := s.opts.Status.ClusterStatuses(c.UserContext())
	if err != nil {
		return nil, err
	}
	out := &ClusterList{Clusters: []Cluster{}}
	for _, cl := range clusters {
		out.Clusters = append(out.Clusters, Cluster{ID: cl.Name, Name: cl.Name, DisplayName: cmp.Or(cl.DisplayName, cl.Name), Description: cl.Description,
			Server: cl.Server, AuthType: cmp.Or(cl.AuthType, "kubeconfig"), Status: connection(statuses[cl.Name]), Default: cl.Default, Metadata: cl.Metadata, Labels: cl.Labels})
		if cl.Default {
			out.Default = &cl.Name
		}
	}
	return out, nil
}

// connection is a cluster's status in the editor's words, from its
// status record: "connected" while the watch reaches its API server,
// "disconnected" once it does not, and "unknown" while that is not known
// (the cluster is not watched, or not listed yet). KubeOrch's "error", a
// cluster it cannot make a client for, has no counterpart: a cluster
// without a context in HOOKS_KUBECONFIG is not watched.
func connection(cs hooks.ClusterStatus) string {
	switch {
	case cs.Reachable == nil:
		return "unknown"
	case *cs.Reachable:
		return "connected"
	}
	return "disconnected"
}

func (s *Server) listClusters(c *fiber.Ctx) error {
	list, err := s.clusters(c)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(list)
}

func (s *Server) getCluster(c *fiber.Ctx) error {
	list, err := s.clusters(c)
	if err != nil {
		return s.fail(c, err)
	}
	for _, cl := range list.Clusters {
		if cl.Name == c.Params("name") {
			return c.JSON(cl)
		}
	}
	return reply(c, http.StatusNotFound, "no such cluster")
}

// catalog returns the plugin catalog at the source branch's head.
func (s *Server) catalog(c *fiber.Ctx) (*plugins.Catalog, error) {
	head, err := s.head(c.UserContext())
	if err != nil {
		return nil, err
	}
	files, err := s.opts.Source.Source(head)
	if err != nil {
		return nil, err
	}
	return source.Plugins(files), nil
}

func (s *Server) templates(c *fiber.Ctx) error {
	cat, err := s.catalog(c)
	if err != nil {
		return s.fail(c, err)
	}
	out := make([]Template, 0, len(coreKinds))
	for _, k := range coreKinds {
		out = append(out, Template{ID: "core/" + string(k.kind), Name: string(k.kind), DisplayName: k.displayName, Category: "core",
			Description: k.description, Icon: k.icon, Version: "1.0.0", Tags: k.tags, UsageFrequency: "high", Difficulty: "easy",
			Dependencies: []string{}, Parameters: []Parameter{}})
	}
	for _, p := range cat.Plugins {
		for _, nt := range p.NodeTypes {
			params := make([]Parameter, 0, len(nt.Fields))
			for _, f := range nt.Fields {
				prm := Parameter{Name: f.ID, Label: title(f.ID), Type: f.Type, Required: f.Required, Default: f.Default}
				for _, o := range f.Options {
					prm.Options = append(prm.Options, Option{Value: o, Label: o})
				}
				params = append(params, prm)
			}
			out = append(out, Template{ID: nt.TemplateID, Name: nt.TemplateID, DisplayName: nt.Kind, Category: "plugin",
				Description: nt.APIVersion + " " + nt.Kind, Icon: "Plug", Version: "1.0.0", Tags: []string{"plugin", p.ID},
				UsageFrequency: "medium", Difficulty: "medium", Dependencies: []string{}, Parameters: params, IsPlugin: true, PluginID: p.ID})
		}
	}
	return c.JSON(fiber.Map{"templates": out})
}

// Plugin is a plugin of the catalog in the editor's shape; every plugin
// of the catalog is enabled.
type Plugin struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	DisplayName string       `json:"displayName"`
	Description string       `json:"description"`
	Category    string       `json:"category"`
	Icon        string       `json:"icon"`
	Version     string       `json:"version"`
	CRDGroup    string       `json:"crdGroup"`
	CRDKinds    []string     `json:"crdKinds"`
	NodeTypes   []PluginNode `json:"nodeTypes"`
	Enabled     bool         `json:"enabled"`
}

// PluginNode is a node type of a plugin.
type PluginNode struct {
	Name        string        `json:"name"`
	DisplayName string        `json:"displayName"`
	Description string        `json:"description"`
	Icon        string        `json:"icon"`
	Category    string        `json:"category"`
	Fields      []PluginField `json:"fields"`
}

// PluginField is a field of a plugin node type.
type PluginField struct {
	ID       string   `json:"id"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// plugins returns the catalog's plugins in the editor's shape.
func (s *Server) plugins(c *fiber.Ctx) ([]Plugin, error) {
	cat, err := s.catalog(c)
	if err != nil {
		return nil, err
	}
	out := make([]Plugin, 0, len(cat.Plugins))
	for _, p := range cat.Plugins {
		pl := Plugin{ID: p.ID, Name: p.ID, DisplayName: title(p.ID), Description: p.Group, Category: "workflow", Icon: "Plug", Version: "1.0.0",
			CRDGroup: p.Group, CRDKinds: p.Kinds, NodeTypes: []PluginNode{}, Enabled: true}
		if pl.CRDKinds == nil {
			pl.CRDKinds = []string{}
		}
		for _, nt := range p.NodeTypes {
			fields := make([]PluginField, 0, len(nt.Fields))
			for _, f := range nt.Fields {
				fields = append(fields, PluginField{ID: f.ID, Label: title(f.ID), Type: f.Type, Required: f.Required, Default: f.Default, Options: f.Options})
			}
			pl.NodeTypes = append(pl.NodeTypes, PluginNode{Name: nt.TemplateID, DisplayName: nt.Kind, Description: nt.APIVersion + " " + nt.Kind,
				Icon: "Plug", Category: "workflow", Fields: fields})
		}
		out = append(out, pl)
	}
	return out, nil
}

func (s *Server) listPlugins(c *fiber.Ctx) error {
	ps, err := s.plugins(c)
	if err != nil {
		return s.fail(c, err)
	}
	return c.JSON(fiber.Map{"plugins": ps})
}

// title makes a label of an id: "storageClass" and "pg-cluster" become
// "StorageClass" and "Pg cluster".
func title(id string) string {
	if id == "" {
		return ""
	}
	return strings.ToUpper(id[:1]) + strings.ReplaceAll(id[1:], "-", " ")
}
