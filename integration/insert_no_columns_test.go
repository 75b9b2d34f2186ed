package integration

import (
	"testing"
)

// TestInsertWithoutColumnList (issue 12): INSERT ... VALUES without a
// column list on a table with encrypted columns stores what it stores on
// the plaintext table (phiguard writes in the column list PostgreSQL
// would use, from its catalog), in both protocols, with literals and
// parameters, partial rows, several rows, an alias and OVERRIDING.
func TestInsertWithoutColumnList(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "nolist",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: nolist-ssn, type: text}"},
		twinColumn{"note", "text", ""},
		twinColumn{"born", "date", "{mode: randomized, key: nolist-pii, type: date}"})
	statements := []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO %s VALUES (1, '078-05-1120', 'a', '1980-02-29')", nil},
		// The same shape with other values (of other lengths): a shape
		// shares its analysis, never its text.
		{"INSERT INTO %s VALUES (100, '078-05-1', 'a longer note', '1980-03-01')", nil},
		{"INSERT INTO %s VALUES (2, '078-05-1121'), (3, NULL)", nil},
		{"INSERT INTO public.%s AS x VALUES ($1, $2, $3, $4)", []any{4, "078-05-1122", "d", "1999-12-31"}},
		{"INSERT INTO %s OVERRIDING USER VALUE VALUES (5, '078-05-1123', 'e', '2000-01-01'::date)", nil},
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, st := range statements {
			tw.exec(t, st.sql, mode, st.args...)
		}
		tw.same(t, "SELECT id, ssn, note, born FROM %s ORDER BY id", mode, "INSERT without a column list")
	}
}
