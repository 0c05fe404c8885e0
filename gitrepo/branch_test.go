package gitrepo

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestCommitBranch starts a branch of a remote from main's head, continues
// it, and checks the compare-and-swap and that a branch is never
// rewritten: the remote's branch is where each step left it.
func TestCommitBranch(t *testing.T) {
	t.Parallel()
	url, bare := gittest.AuthRemote(t, fixtureRepo, "slipway", "a push credential")
	r := open(t, url.String())
	main, err := r.Resolve("main")
	if err != nil {
		t.Fatal(err)
	}
	remote := func(branch string) string {
		t.Helper()
		out, err := gittest.GitE(t.Context(), bare, "rev-parse", "-q", "--verify", "refs/heads/"+branch)
		if err != nil {
			return ""
		}
		return out
	}
	note := func(s string) map[string][]byte { return map[string][]byte{"notes.txt": []byte(s)} }

	first, err := r.CommitBranch(t.Context(), "topic", main, plumbing.ZeroHash, note("one\n"), author, "One\n")
	if err != nil {
		t.Fatal(err)
	}
	if first.ParentHashes[0] != main.Hash || remote("topic") != first.Hash.String() || remote("main") != main.Hash.String() {
		t.Fatalf("after the first commit: topic %s (want %s on %s), main %s", remote("topic"), first.Hash, main.Hash, remote("main"))
	}
	t.Run("created already", func(t *testing.T) {
		_, err := r.CommitBranch(t.Context(), "topic", main, plumbing.ZeroHash, note("other\n"), author, "Other\n")
		if !errors.Is(err, ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("moved meanwhile", func(t *testing.T) {
		_, err := r.CommitBranch(t.Context(), "topic", first, main.Hash, note("other\n"), author, "Other\n")
		if !errors.Is(err, ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("rewrite", func(t *testing.T) {
		_, err := r.CommitBranch(t.Context(), "topic", main, first.Hash, note("other\n"), author, "Other\n")
		if err == nil || !strings.Contains(err.Error(), "does not descend") {
			t.Errorf("err = %v, want a refusal to rewrite", err)
		}
	})
	t.Run("unchanged", func(t *testing.T) {
		_, err := r.CommitBranch(t.Context(), "topic", first, first.Hash, note("one\n"), author, "Same\n")
		if !errors.Is(err, ErrUnchanged) {
			t.Errorf("err = %v, want ErrUnchanged", err)
		}
	})
	if remote("topic") != first.Hash.String() {
		t.Fatalf("a refused commit moved topic to %s", remote("topic"))
	}
	second, err := r.CommitBranch(t.Context(), "topic", first, first.Hash, note("two\n"), author, "Two\n")
	if err != nil {
		t.Fatal(err)
	}
	if second.ParentHashes[0] != first.Hash || remote("topic") != second.Hash.String() {
		t.Errorf("topic is at %s, want %s on %s", remote("topic"), second.Hash, first.Hash)
	}
	if got := gittest.Git(t, bare, "show", "topic:notes.txt"); got != "two" {
		t.Errorf("notes.txt = %q", got)
	}
}
