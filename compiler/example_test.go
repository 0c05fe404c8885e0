package compiler_test

import (
	"context"
	"fmt"

	"github.com/slipway-gitops/slipway/compiler"
	"github.com/slipway-gitops/slipway/source"
)

func ExampleCompiler_Build() {
	src := source.Files{
		"workflows/hello.json": []byte(`{
  "name": "hello", "status": "published",
  "nodes": [
    {"id": "web", "type": "deployment", "position": {"x": 0, "y": 0},
     "data": {"name": "web", "image": "nginx:1.27", "replicas": 2, "port": 8080}},
    {"id": "svc", "type": "service", "position": {"x": 200, "y": 0},
     "data": {"name": "web", "port": 80}}
  ],
  "edges": [{"id": "e1", "source": "svc", "target": "web"}]
}`),
	}
	c, err := compiler.New(compiler.DefaultOptions())
	if err != nil {
		panic(err)
	}
	res, err := c.Build(context.Background(), src)
	if err != nil {
		panic(err)
	}
	for _, p := range res.Tree.Paths() {
		fmt.Println(p)
	}
	// Output:
	// clusters/default/hello.yaml
	// clusters/default/kustomization.yaml
	// clusters/default/namespaces/hello.yaml
	// workflows/hello/base/deployment-web.yaml
	// workflows/hello/base/kustomization.yaml
	// workflows/hello/base/service-web.yaml
	// workflows/hello/clusters/default/kustomization.yaml
}
