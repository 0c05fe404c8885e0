// Package english writes the small pieces of English that messages share.
package english

import (
	"fmt"
	"strings"
)

// Plural counts n of a noun: "1 workflow", "3 workflows", "2 classes".
func Plural(n int, noun string) string {
	switch {
	case n == 1:
		return fmt.Sprintf("%d %s", n, noun)
	case strings.HasSuffix(noun, "s"):
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
