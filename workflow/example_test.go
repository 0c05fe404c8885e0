package workflow_test

import (
	"fmt"

	"github.com/slipway-gitops/slipway/workflow"
)

func ExampleDecode() {
	_, err := workflow.Decode("workflows/shop.json", []byte(`{
  "name": "shop", "status": "published",
  "nodes": [{"id": "api", "type": "deployment", "position": {"x": 0, "y": 0},
             "data": {"name": "api", "image": "nginx:1.27", "port": 70000, "replicas": -1}}],
  "edges": [{"id": "e1", "source": "api", "target": "db"}]
}`))
	for _, e := range workflow.AsErrors(err) {
		fmt.Println(e)
	}
	// Output:
	// workflows/shop.json: /edges/0/target: names node "db", which does not exist
	// workflows/shop.json: /nodes/0/data/port: must be 1..65535, not 70000 (node "api")
	// workflows/shop.json: /nodes/0/data/replicas: must be 0 or more, not -1 (node "api")
}
