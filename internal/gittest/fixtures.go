package gittest

import (
	"path/filepath"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// FixtureFile returns the file p of the fixture repository in the
// directory fixtures (such as "../fixtures/repo"), with patches applied.
func FixtureFile(t testing.TB, fixtures, p string, patches ...testutil.Patch) []byte {
	t.Helper()
	doc := testutil.LoadJSON(t, filepath.Join(fixtures, p))
	return testutil.Marshal(t, testutil.Apply(t, doc, patches...))
}

// FixtureRepo makes a workflows repository whose first commit holds the
// files of the fixture repository in the directory fixtures, and returns
// its directory.
func FixtureRepo(t testing.TB, fixtures string) string {
	t.Helper()
	dir := Init(t)
	Commit(t, dir, "Add the fixture workflows", CopyDir(t, fixtures, dir, ""))
	return dir
}
