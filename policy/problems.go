package policy

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a policy file, tied to its key path (for
// example `tables[public.patients].columns[ssn].mode`) and, when it comes
// from the file, to its line.
type Problem struct {
	Path    string
	Line    int // 0 when the problem is not tied to a line (a catalog check)
	Message string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", p.Path, p.Message, p.Line)
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found; it is an error when non-empty.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return "invalid policy:\n  " + strings.Join(lines, "\n  ")
}

func (ps Problems) errorOrNil() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Key paths: user-chosen names go in brackets, so a dotted table name stays
// one element: tables[public.patients].columns[ssn].
func tablePath(key string) string            { return "tables[" + key + "]" }
func columnPath(table, column string) string { return tablePath(table) + ".columns[" + column + "]" }
