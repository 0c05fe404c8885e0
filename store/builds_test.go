package store

import (
	"testing"
)

func TestBuildRecords(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()

	created, err := s.CreateBuild(ctx, "b1", []byte(`{"status":"pending"}`))
	if err != nil || !created {
		t.Fatalf("create: %t, %v", created, err)
	}
	// One build per id: a second create writes nothing.
	if created, err := s.CreateBuild(ctx, "b1", []byte(`{"status":"other"}`)); err != nil || created {
		t.Fatalf("create again: %t, %v; want false", created, err)
	}
	rec, err := s.Build(ctx, "b1")
	if err != nil || rec == nil || string(rec.Value) != `{"status":"pending"}` {
		t.Fatalf("build b1 = %+v, %v", rec, err)
	}
	if ok, err := s.UpdateBuild(ctx, "b1", []byte(`{"status":"cloning"}`), rec.Revision); err != nil || !ok {
		t.Fatalf("update: %t, %v", ok, err)
	}
	// A writer that read before that update loses.
	if ok, err := s.UpdateBuild(ctx, "b1", []byte(`{"status":"failed"}`), rec.Revision); err != nil || ok {
		t.Fatalf("stale update: %t, %v; want false", ok, err)
	}
	if _, err := s.CreateBuild(ctx, "a0", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	all, err := s.Builds(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "a0" || all[1].ID != "b1" || string(all[1].Value) != `{"status":"cloning"}` {
		t.Fatalf("builds = %+v, %v", all, err)
	}
	if rec, err := s.Build(ctx, "none"); err != nil || rec != nil {
		t.Fatalf("missing build = %+v, %v", rec, err)
	}
	// A delete by a reader from before the last write deletes nothing.
	if ok, err := s.DeleteBuild(ctx, "b1", rec.Revision); err != nil || ok {
		t.Fatalf("stale delete: %t, %v; want false", ok, err)
	}
	if ok, err := s.DeleteBuild(ctx, "b1", all[1].Revision); err != nil || !ok {
		t.Fatalf("delete: %t, %v", ok, err)
	}
	if rec, err := s.Build(ctx, "b1"); err != nil || rec != nil {
		t.Fatalf("deleted build = %+v, %v", rec, err)
	}
}
