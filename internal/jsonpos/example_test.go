package jsonpos_test

import (
	"fmt"

	"github.com/slipway-gitops/slipway/internal/jsonpos"
)

func ExampleIndex_Find() {
	doc := []byte(`{
  "nodes": [
    {"id": "api", "data": {"port": 70000}}
  ]
}`)
	idx, err := jsonpos.Parse(doc)
	if err != nil {
		panic(err)
	}
	pos, _ := idx.Find("/nodes/0/data/port")
	fmt.Printf("line %d, column %d\n", pos.Line, pos.Column)
	// A missing value is placed at its nearest enclosing value.
	pos, found := idx.Find("/nodes/0/data/image")
	fmt.Printf("%s: line %d, column %d\n", found, pos.Line, pos.Column)
	// Output:
	// line 3, column 36
	// /nodes/0/data: line 3, column 27
}
