package review

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzLiveChanges compares any two JSON objects, with any ignore pointer,
// as a Secret: it never panics, a Secret's values only ever show as
// masked, and nothing under an ignored /spec is listed.
func FuzzLiveChanges(f *testing.F) {
	f.Add(`{"data":{"a":"eA=="},"spec":{"x":1}}`, `{"data":{"a":"eQ==","b":"eg=="},"spec":{"x":2}}`, "/spec/x")
	f.Add(`{"metadata":{"uid":"1","labels":{"a/b":"c"}},"spec":{"l":[1,{"n":2}]}}`, `{"metadata":{"uid":"2"},"spec":{"l":[1]}}`, "/spec/l/1/n")
	f.Add(`{"stringData":{"k":"v"}}`, `{"data":"oops"}`, "/~1~0/")
	f.Fuzz(func(t *testing.T, live, dry, pointer string) {
		var a, b map[string]any
		if json.Unmarshal([]byte(live), &a) != nil || json.Unmarshal([]byte(dry), &b) != nil || a == nil || b == nil {
			return
		}
		for _, c := range liveChanges(a, b, []string{pointer, "/spec"}, true) {
			if strings.HasPrefix(c.Path, "spec") {
				t.Errorf("ignored /spec listed: %s", c)
			}
			if inSecretData(c.Path) && (!c.Masked || c.Old != nil && c.Old != true || c.New != nil && c.New != true) {
				t.Errorf("a Secret value shows: %#v", c)
			}
		}
	})
}
