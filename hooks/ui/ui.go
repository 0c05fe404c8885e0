// Package ui is the read-only status page: clusters and workflows with
// their live version, sync and health, and per workflow its graph as
// server-rendered SVG, its nodes' objects, conditions and warning events,
// its version and deploy history, and its nodes' current and recent
// builds. Templates, CSS and a small script are embedded; no route
// changes anything. With JavaScript the page follows the status stream
// (/api/events); without, it is complete and current at load time.
package ui

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/slipway-gitops/slipway/gitrepo"
	"github.com/slipway-gitops/slipway/hooks"
	"github.com/slipway-gitops/slipway/watch"
	"github.com/slipway-gitops/slipway/workflow"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy allows the page's own script, styles and stream,
// and nothing else: no inline script or style, no frames, no forms.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Config is what the page reads.
type Config struct {
	Status hooks.StatusReader
	// Source holds the workflows (graph, versions) on SourceBranch;
	// Deploy the deploy history on DeployBranch.
	Source       *gitrepo.Repo
	SourceBranch string
	Deploy       *gitrepo.Repo
	DeployBranch string
	Access       hooks.ReadAccess
	// Kubeconfig is false when no HOOKS_KUBECONFIG is set, which the page
	// says plainly.
	Kubeconfig bool
	// Builds, when builds are on, are shown on the workflow pages.
	Builds Builds
	Log    *slog.Logger
}

// Page serves the status page.
type Page struct {
	cfg  Config
	tmpl *template.Template
}

// New parses the embedded templates.
func New(cfg Config) (*Page, error) {
	t, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Page{cfg: cfg, tmpl: t}, nil
}

// Mount adds the page's routes, each behind the read guard and the
// security headers.
func (p *Page) Mount(app *fiber.App) {
	// Each route carries its guards: a middleware on "/" would reach the
	// routes mounted after it, such as /readyz.
	guard := []fiber.Handler{hooks.ServerTiming, securityHeaders, p.cfg.Access.Middleware}
	app.Get("/", append(guard, p.overview)...)
	app.Get("/workflows/:name", append(guard, p.workflow)...)
	app.Get("/workflows/:name/compare", append(guard, p.compare)...)
	app.Get("/assets/*", append(guard, serveAsset)...)
}

// serveAsset sends an embedded file; embed refuses paths that leave the
// directory.
func serveAsset(c *fiber.Ctx) error {
	name := c.Params("*")
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return c.SendStatus(http.StatusNotFound)
	}
	c.Type(strings.TrimPrefix(path.Ext(name), "."), "utf-8")
	c.Set(fiber.HeaderCacheControl, "max-age=300")
	return c.Send(b)
}

func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", ContentSecurityPolicy)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	return c.Next()
}

func (p *Page) render(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.cfg.Log.Error("render page", slog.String("page", name), slog.String("error", err.Error()))
		return c.Status(http.StatusInternalServerError).SendString("the page could not be rendered")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).Send(buf.Bytes())
}

func (p *Page) failed(c *fiber.Ctx, err error) error {
	p.cfg.Log.Error("status page", slog.String("path", c.Path()), slog.String("error", err.Error()))
	return p.render(c, http.StatusServiceUnavailable, "error.html", map[string]string{"Message": "The status cannot be read right now: " + err.Error()})
}

// overviewData is the overview template's data.
type overviewData struct {
	Revision   int64
	Clusters   []hooks.ClusterStatus
	Workflows  []workflowSummary
	Kubeconfig bool
	Watched    int
}

// workflowSummary is a workflow's status without its nodes, which the
// overview does not show and so does not decode.
type workflowSummary struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	watch.Result
	Sync  watch.Sync  `json:"sync"`
	Drift watch.Drift `json:"drift"`
}

func (p *Page) overview(c *fiber.Ctx) error {
	recs, rev, err := p.cfg.Status.Statuses(c.UserContext(), "")
	if err != nil {
		return p.failed(c, err)
	}
	d := overviewData{Revision: rev, Kubeconfig: p.cfg.Kubeconfig}
	for _, r := range recs {
		var err error
		switch {
		case strings.HasPrefix(r.Key, "clusters/"):
			var cs hooks.ClusterStatus
			if err = json.Unmarshal(r.Value, &cs); err == nil {
				d.Clusters = append(d.Clusters, cs)
				if cs.Watched {
					d.Watched++
				}
			}
		case strings.HasPrefix(r.Key, "workflows/"):
			var ws workflowSummary
			if err = json.Unmarshal(r.Value, &ws); err == nil {
				d.Workflows = append(d.Workflows, ws)
			}
		}
		if err != nil {
			return p.failed(c, fmt.Errorf("status record %s: %w", r.Key, err))
		}
	}
	return p.render(c, http.StatusOK, "overview.html", d)
}

// workflowData is the workflow template's data.
type workflowData struct {
	Name     string
	Revision int64
	Status   *watch.WorkflowStatus
	// Summary is Status, or while there is none a stand-in whose fields,
	// hidden, the script fills in from the first status event.
	Summary  *watch.WorkflowStatus
	Graph    *Graph
	Versions []gitrepo.Version
	Deploys  []gitrepo.DeployRecord
	// Builds is nil when builds are off.
	Builds  *buildsData
	Problem string
}

func (p *Page) workflow(c *fiber.Ctx) error {
	ctx := c.UserContext()
	name := c.Params("name")
	if !validName(name) {
		return p.render(c, http.StatusNotFound, "error.html", map[string]string{"Message": "No workflow is called " + name + "."})
	}
	// The revision is read first: the stream resumes after it, so no
	// change between this read and the script's connection is lost.
	_, rev, err := p.cfg.Status.Statuses(ctx, "none/")
	if err != nil {
		return p.failed(c, err)
	}
	ws, err := hooks.ReadWorkflowStatus(ctx, p.cfg.Status, name)
	if err != nil {
		return p.failed(c, err)
	}
	d := workflowData{Name: name, Revision: rev, Status: ws, Summary: ws}
	if ws == nil {
		d.Summary = &watch.WorkflowStatus{Name: name, Result: watch.Result{Health: watch.Unknown, Reason: "no status is recorded yet"}, Sync: watch.Sync{State: "unknown"}}
	}
	wf, err := p.headWorkflow(ctx, name)
	if err != nil {
		d.Problem = err.Error()
	}
	if wf == nil && ws == nil {
		return p.render(c, http.StatusNotFound, "error.html", map[string]string{"Message": "No workflow is called " + name + "."})
	}
	if wf != nil {
		d.Graph = NewGraph(wf, ws)
		if d.Versions, err = p.cfg.Source.Versions(ctx, p.cfg.SourceBranch, name); err != nil {
			d.Problem = err.Error()
		}
		for i, j := 0, len(d.Versions)-1; i < j; i, j = i+1, j-1 {
			d.Versions[i], d.Versions[j] = d.Versions[j], d.Versions[i]
		}
	}
	if wf != nil && p.cfg.Builds != nil {
		all, err := p.cfg.Builds.List(ctx)
		if err != nil {
			d.Problem = err.Error()
		}
		d.Builds = workflowBuilds(wf, name, all)
	}
	if h, err := p.cfg.Deploy.History(p.cfg.DeployBranch, 20); err == nil {
		d.Deploys = h
	}
	return p.render(c, http.StatusOK, "workflow.html", d)
}

// headWorkflow decodes the workflow's file at the source branch head; nil
// when the branch has no such file.
func (p *Page) headWorkflow(ctx context.Context, name string) (*workflow.Workflow, error) {
	head, err := p.cfg.Source.Resolve(p.cfg.SourceBranch)
	if err != nil {
		return nil, err
	}
	src, err := p.cfg.Source.Source(head)
	if err != nil {
		return nil, err
	}
	file := workflow.WorkflowFile(name)
	b, ok := src[file]
	if !ok {
		return nil, nil
	}
	return workflow.Decode(file, b)
}

// compareData is the compare template's data.
type compareData struct {
	Name   string
	V1, V2 int
	Diff   *workflow.GraphDiff
}

// compare shows which nodes and edges changed between two versions, and
// the paths of changed fields; field values are never shown, so nothing
// a workflow holds can leak through the page.
func (p *Page) compare(c *fiber.Ctx) error {
	name := c.Params("name")
	v1, err1 := strconv.Atoi(c.Query("v1"))
	v2, err2 := strconv.Atoi(c.Query("v2"))
	if err1 != nil || err2 != nil || !validName(name) {
		return p.render(c, http.StatusBadRequest, "error.html", map[string]string{"Message": "Compare needs a workflow and two version numbers, v1 and v2."})
	}
	d, err := p.cfg.Source.Compare(c.UserContext(), p.cfg.SourceBranch, name, v1, v2)
	if err != nil {
		return p.render(c, http.StatusNotFound, "error.html", map[string]string{"Message": err.Error()})
	}
	return p.render(c, http.StatusOK, "compare.html", compareData{Name: name, V1: v1, V2: v2, Diff: d})
}

// short returns the first 12 characters of an id, as commits are shown.
func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"short":         short,
	"buildDuration": buildDuration,
	"buildNote":     buildNote,
	"prev":          func(n int) int { return n - 1 },
	"symbol": func(h watch.Health) string {
		switch h {
		case watch.Healthy:
			return "✓"
		case watch.Progressing:
			return "…"
		case watch.Suspended:
			return "‖"
		case watch.Degraded:
			return "✕"
		case watch.Missing:
			return "?"
		}
		return "–"
	},
}
