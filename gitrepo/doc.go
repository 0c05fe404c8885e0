// Package gitrepo keeps workflows in git: it opens a local repository or
// clones a remote one into a cache, lists a workflow's versions (the
// commits that changed its file), restores old versions as new commits,
// and deploys: it compiles a source commit and commits the deploy tree to
// a deploy branch, updating the branch by compare-and-swap so that
// concurrent deployers never lose a commit or write a mixed tree.
//
// Everything goes through go-git; branch updates in local repositories
// follow git's own lock-file protocol, so the git command line and Slipway
// can work on one repository at the same time.
package gitrepo
