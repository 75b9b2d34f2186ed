package integration

import (
	"testing"
)

// TestRedTeam4ContinuedString: PostgreSQL joins two '...' strings
// separated by whitespace holding a newline (and comments) into one
// constant: '078'\n'-05-1120' is '078-05-1120'. Its one token spans both
// parts and the quotes and newline between them, which phiguard must not
// read as characters of the value.
func TestRedTeam4ContinuedString(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4cont",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt4cont-ssn, type: text}"},
		twinColumn{"name", "text", "{mode: randomized, key: rt4cont-pii, type: text}"})
	statements := []string{
		"INSERT INTO %s (id, ssn, name) VALUES (1, '078'\n'-05-1120', 'a'\n  'b')",
		"INSERT INTO %s (id, ssn, name) VALUES (2, '078-05-1121', E'c'\n'd')",
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, st := range statements {
			tw.exec(t, st, mode)
		}
		tw.same(t, "SELECT id, ssn, name FROM %s ORDER BY id", mode, "continued strings")
		tw.same(t, "SELECT id FROM %s WHERE ssn = '078-05'\n'-1121' ORDER BY id", mode, "compared continued string")
	}
}
