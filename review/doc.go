// Package review describes a change to a workflows repository the way a
// reviewer wants to read it in a pull request: a summary first, then per
// workflow the graph diff (nodes and edges) and the rendered manifest diff
// (object by object), as text, Markdown within a size budget, or JSON.
package review
