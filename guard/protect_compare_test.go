package guard

import (
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

func TestLiteralPlace(t *testing.T) {
	for _, c := range []struct {
		sql  string
		form sqlrewrite.CompareForm
		want bool
	}{
		{"SELECT 1 FROM p WHERE ssn = 'x'", sqlrewrite.CompareEq, true},
		{"SELECT 1 FROM p WHERE ssn='x'", sqlrewrite.CompareEq, true},
		{"SELECT 1 FROM p WHERE ssn <> 'x'", sqlrewrite.CompareNe, true},
		{"SELECT 1 FROM p WHERE ssn != 'x'", sqlrewrite.CompareNe, true},
		{"SELECT 1 FROM p WHERE (ssn) = ('x')", sqlrewrite.CompareEq, false},
		{"SELECT 1 FROM p WHERE ssn IN ('x', 'y')", sqlrewrite.CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn NOT IN ( 'x' )", sqlrewrite.CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn in('x')", sqlrewrite.CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn IN (('x'))", sqlrewrite.CompareIn, false},
		{"SELECT 1 FROM p WHERE ssn IN ('a', ('x'))", sqlrewrite.CompareIn, false},
		{"SELECT 1 FROM p WHERE ssn IN ('a', 'x')", sqlrewrite.CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn = 'x'", sqlrewrite.CompareIn, false},
	} {
		sp := sqlrewrite.LiteralSpans([]byte(c.sql))
		last := sp[len(sp)-1]
		if c.sql[last[0]] != '\'' {
			t.Fatalf("%s: last literal is %q", c.sql, c.sql[last[0]:last[1]])
		}
		if got := literalPlace([]byte(c.sql), last, c.form); got != c.want {
			t.Errorf("%s (form %d): %v, want %v", c.sql, c.form, got, c.want)
		}
	}
}
