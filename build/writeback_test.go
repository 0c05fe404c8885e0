package build

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/gittest"
	"github.com/slipway-gitops/slipway/internal/registrytest"
	"github.com/slipway-gitops/slipway/internal/testutil"
)

func TestCompleteWritesTheImageBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.startAPI(t)
	before := readFile(t, f.dir, "workflows/shop.json")
	digest := registrytest.Push(t, r.destination())
	got := f.complete(t, r, "")
	want := f.registry + "/team/example/shop-api:" + commitA[:12] + "@" + digest
	if got.Status != Completed || got.Progress != 100 || got.FinalImageRef != want || got.WriteBack == "" || got.WriteBackSkipped != "" {
		t.Fatalf("record = %+v; want completed as %s with a write-back", got, want)
	}
	after := readFile(t, f.dir, "workflows/shop.json")
	// Only the node's image changed, byte for byte.
	old := `"ghcr.io/example/shop-api@sha256:0e1b2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"`
	if strings.Count(before, old) != 1 || strings.Replace(before, old, `"`+want+`"`, 1) != after {
		t.Errorf("write-back changed more than the image:\nbefore %s\nafter %s", before, after)
	}
	msg := gittest.Git(t, f.dir, "log", "-1", "--format=%B", "main")
	if gittest.Git(t, f.dir, "rev-parse", "main") != got.WriteBack || !strings.Contains(msg, "Build-Id: "+r.ID) || !strings.HasPrefix(msg, "Build api of shop") {
		t.Errorf("write-back commit %s:\n%s", got.WriteBack, msg)
	}
	if n := f.deploys.Load(); n != 1 {
		t.Errorf("%d deploys asked for, want 1", n)
	}
}

func TestWriteBackSkipsANodeAPersonChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.startAPI(t)
	registrytest.Push(t, r.destination())
	// Meanwhile someone scales the api by hand.
	edited := gittest.FixtureFile(t, fixtureRepo, "workflows/shop.json",
		testutil.Set("/nodes/4/data/build", map[string]any{"repoUrl": apiRepo, "context": "api", "args": map[string]any{"GO": "1.26"}}),
		testutil.Set("/nodes/4/data/replicas", 7))
	theirs := gittest.Commit(t, f.dir, "Scale the api", map[string][]byte{"workflows/shop.json": edited})
	got := f.complete(t, r, "")
	if got.Status != Completed || got.WriteBack != "" || !strings.Contains(got.WriteBackSkipped, "node api was changed on main") {
		t.Errorf("record = %+v; want completed, the write-back skipped", got)
	}
	if head := gittest.Git(t, f.dir, "rev-parse", "main"); head != theirs {
		t.Errorf("main moved to %s past the person's %s", head, theirs)
	}
	if n := f.deploys.Load(); n != 0 {
		t.Errorf("%d deploys asked for, want none", n)
	}
}

func TestCompleteRefusesADigestTheRegistryDoesNotHave(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.startAPI(t)
	registrytest.Push(t, r.destination())
	reported := r.destination() + "@sha256:" + strings.Repeat("ab", 32)
	if got := f.complete(t, r, reported); got.Status != Failed || !strings.Contains(got.Error, "but the builder pushed sha256:abab") {
		t.Errorf("record = %+v; want failed on the digest", got)
	}
}

func TestCompleteWaitsForTheRegistry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.startAPI(t)
	// Nothing was pushed: the build is not completed, and is tried again.
	if err := f.svc.complete(t.Context(), r, ""); err == nil {
		t.Fatal("complete without an image in the registry succeeded")
	}
	if got, _, _ := f.svc.Get(t.Context(), r.ID); got.Status != Pending {
		t.Errorf("status %s, want still pending", got.Status)
	}
}

func TestSetImage(t *testing.T) {
	t.Parallel()
	doc := []byte("{\"nodes\": [\n  {\"id\": \"a\", \"data\": {\"image\": \"x:1\"}},\n  {\"id\": \"b\", \"data\": {\"name\": \"b\",\n     \"image\" : \"y\\u003a2\", \"port\": 80}}\n]}\n")
	got, err := setImage(doc, "b", "reg/y:2@sha256:00")
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"nodes\": [\n  {\"id\": \"a\", \"data\": {\"image\": \"x:1\"}},\n  {\"id\": \"b\", \"data\": {\"name\": \"b\",\n     \"image\" : \"reg/y:2@sha256:00\", \"port\": 80}}\n]}\n"
	if string(got) != want {
		t.Errorf("setImage =\n%s\nwant\n%s", got, want)
	}
	if _, err := setImage(doc, "c", "z"); err == nil || !strings.Contains(err.Error(), `node "c" is gone`) {
		t.Errorf("missing node: %v", err)
	}
}

// FuzzSetImage checks that setImage, whatever the file, either refuses it
// or changes the node's image and nothing else.
func FuzzSetImage(f *testing.F) {
	f.Add([]byte(`{"nodes":[{"id":"a","data":{"image":"x:1"}}]}`), "a", "reg/x:1@sha256:00")
	f.Add([]byte("{\"nodes\": [{\"id\": \"b\", \"data\": {\"image\" : \"y\\u003a2\"}}, {\"id\": \"a\", \"data\": {\"image\": \"\"}}]}"), "a", "q\"uote")
	f.Add([]byte(`{"nodes":[{"id":"a","data":{}}]}`), "a", "x")
	f.Add([]byte(`{"nodes":[{"id":"a","id":"b","data":{"image":1}}]}`), "b", "x")
	f.Fuzz(func(t *testing.T, content []byte, id, image string) {
		out, err := setImage(content, id, image)
		if err != nil {
			return
		}
		var before, after struct {
			Nodes []map[string]any `json:"nodes"`
		}
		if err := json.Unmarshal(content, &before); err != nil {
			t.Fatalf("setImage accepted a file encoding/json refuses: %v", err)
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("setImage made a file that does not decode: %v\n%s", err, out)
		}
		i, err := nodeIndex(out, id)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := after.Nodes[i]["data"].(map[string]any)
		if data["image"] != image {
			t.Errorf("image = %v, want %q", data["image"], image)
		}
		// Everything else is as it was.
		before.Nodes[i]["data"].(map[string]any)["image"] = image
		if !reflect.DeepEqual(before, after) {
			t.Errorf("setImage changed more than the image:\n%s\n%s", content, out)
		}
	})
}
