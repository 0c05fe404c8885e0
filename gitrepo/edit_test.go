package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipway-gitops/slipway/internal/gittest"
)

// TestEditFileRereadsAMovedBranch checks the compare-and-swap: when the
// branch moves while an edit is decided, the edit is decided again on
// the new head, and keeps what the other commit wrote.
func TestEditFileRereadsAMovedBranch(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	r := open(t, dir)
	var heads []string
	c, err := r.EditFile(t.Context(), "main", "notes.txt", author, "Add a note\n", func(head *object.Commit, content []byte) ([]byte, error) {
		heads = append(heads, head.Hash.String())
		if len(heads) == 1 {
			// Someone else commits the same file first.
			gittest.Commit(t, dir, "Their note", map[string][]byte{"notes.txt": []byte("theirs\n")})
		}
		return append(bytes.Clone(content), "ours\n"...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 2 || heads[0] == heads[1] {
		t.Fatalf("edit saw heads %v, want two different ones", heads)
	}
	if got := gittest.Git(t, dir, "show", "main:notes.txt"); got != "theirs\nours" {
		t.Errorf("notes.txt = %q", got)
	}
	if c.Message != "Add a note\n" || c.ParentHashes[0].String() != heads[1] {
		t.Errorf("commit %q on %v", c.Message, c.ParentHashes)
	}
	_, err = r.EditFile(t.Context(), "main", "notes.txt", author, "Again\n", func(_ *object.Commit, content []byte) ([]byte, error) { return content, nil })
	if !errors.Is(err, ErrUnchanged) {
		t.Errorf("unchanged edit: %v, want ErrUnchanged", err)
	}
}

// TestEditFiles: several files change in one commit, a file the edit
// leaves as it was is no change, and an edit that changes nothing, or
// fails, commits nothing.
func TestEditFiles(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	r := open(t, dir)
	before := gittest.Git(t, dir, "rev-parse", "main")
	c, err := r.EditFiles(t.Context(), "main", author, "Two files\n", func(_ *object.Commit, read func(string) ([]byte, error)) (map[string][]byte, error) {
		if b, err := read("a/new.txt"); b != nil || err != nil {
			t.Errorf("read of a file the branch lacks = %q, %v; want nil, nil", b, err)
		}
		return map[string][]byte{"a/new.txt": []byte("new\n"), "notes.txt": []byte("both\n")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ParentHashes[0].String() != before {
		t.Errorf("commit's parent %v, want %s", c.ParentHashes, before)
	}
	for path, want := range map[string]string{"a/new.txt": "new", "notes.txt": "both"} {
		if got := gittest.Git(t, dir, "show", "main:"+path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	head := gittest.Git(t, dir, "rev-parse", "main")
	for _, tc := range []struct {
		name string
		edit func(*object.Commit, func(string) ([]byte, error)) (map[string][]byte, error)
		want error
	}{
		{"unchanged", func(_ *object.Commit, read func(string) ([]byte, error)) (map[string][]byte, error) {
			b, err := read("notes.txt")
			return map[string][]byte{"notes.txt": b, "a/new.txt": []byte("new\n")}, err
		}, ErrUnchanged},
		{"refused", func(*object.Commit, func(string) ([]byte, error)) (map[string][]byte, error) {
			return nil, errRefused
		}, errRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.EditFiles(t.Context(), "main", author, "Nothing\n", tc.edit); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if got := gittest.Git(t, dir, "rev-parse", "main"); got != head {
				t.Errorf("main moved to %s", got)
			}
		})
	}
}

var errRefused = errors.New("refused")

// TestConcurrentEditsOfACheckedOutBranch edits a checked-out branch from
// many goroutines: each sees the working tree only between the others'
// updates of it, never half updated, and every edit commits.
func TestConcurrentEditsOfACheckedOutBranch(t *testing.T) {
	t.Parallel()
	dir := gittest.FixtureRepo(t, fixtureRepo)
	r := open(t, dir)
	const editors = 8
	errs := make(chan error, editors)
	for i := range editors {
		go func() {
			_, err := r.EditFile(t.Context(), "main", fmt.Sprintf("notes/%d.txt", i), author, "Add a note\n", func(*object.Commit, []byte) ([]byte, error) {
				return bytes.Repeat([]byte("note\n"), 1000), nil
			})
			errs <- err
		}()
	}
	for range editors {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := gittest.Git(t, dir, "rev-list", "--count", "HEAD"); got != fmt.Sprint(editors+1) {
		t.Errorf("%s commits, want %d", got, editors+1)
	}
}
