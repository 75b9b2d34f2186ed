package sqlrewrite

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// TestFigureColname: the names PostgreSQL's FigureColname gives (checked
// against PostgreSQL in integration's TestRedTeam35bFigureColname) and
// figureName works out (planner_sort_names.go; strength 0, no name,
// where PostgreSQL says ?column?).
func TestFigureColname(t *testing.T) {
	for _, c := range []struct {
		expr, name string
		strength   int
	}{
		{"v.tag", "tag", 2},
		{"v.*::text", "v", 2}, // the last name of the ColumnRef, * skipped
		{"CASE WHEN false THEN 'z' ELSE v.tag END", "tag", 2},
		{"CASE WHEN false THEN 'z' ELSE v.tag END::text", "tag", 2},
		{"CASE WHEN false THEN 'z' ELSE 'y' END", "case", 1},
		{"CASE WHEN false THEN 'z' END", "case", 1},
		{"CASE WHEN false THEN 'z' ELSE 'y'::text END", "case", 1},
		{"CASE WHEN false THEN 1 ELSE 2 END::int8", "int8", 1},
		{"CASE WHEN false THEN 'z' ELSE greatest('a', 'b') END", "greatest", 2},
		{"ARRAY[1]::text", "array", 2},
		{"ROW(1)::text", "row", 2},
		{"(SELECT 1)::text", "?column?", 2},
		{"'a'::text::varchar", "varchar", 1},
		{"nullif(1, 2)", "nullif", 2},
		{"coalesce(1, 2)", "coalesce", 2},
		{"1 + 2", "", 0},
	} {
		tree, err := pg_query.Parse("SELECT " + c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		val := tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()
		name, strength := figureName(val)
		if strength != c.strength || name != c.name {
			t.Errorf("%s: %q %d, want %q %d", c.expr, name, strength, c.name, c.strength)
		}
	}
}
