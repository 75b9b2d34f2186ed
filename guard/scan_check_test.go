package guard

import (
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestScanCheckRefusal: a text carrying a scan along search_path is
// refused only when the statement calls a function phiguard cannot see
// into.
func TestScanCheckRefusal(t *testing.T) {
	scan := []byte("SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE pg_catalog.pg_operator_is_visible(o.oid))")
	exact := []byte("SELECT 1 WHERE CAST('=(pg_catalog.date,pg_catalog.date)' AS pg_catalog.regoperator) IS NOT NULL")
	plan := &sqlrewrite.Plan{}
	for _, c := range []struct {
		sql  string
		text []byte
		want bool
	}{
		{"SELECT x FROM t, (SELECT pg_catalog.set_config('search_path', 'public', false)) s", scan, true},
		{"SELECT my_function(x) FROM t", scan, true},
		{"SELECT x FROM t WHERE x = $1", scan, false},
		{"SELECT max(name) FROM t WHERE name LIKE $1 ESCAPE $2", scan, false}, // the grammar's like_escape
		{"SELECT my_function(x) FROM t", exact, false},
	} {
		if got := scanCheckRefusal(sqlrewrite.Analyze(c.sql), plan, c.text) != nil; got != c.want {
			t.Errorf("%s: refused %v, want %v", c.sql, got, c.want)
		}
	}
}
