package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestInsertWithoutColumnList (issue 12): INSERT ... VALUES without a
// column list on a table with encrypted columns stores what it stores on
// the plaintext table (phiguard writes in the column list PostgreSQL
// would use, from its catalog), in both protocols, with literals and
// parameters, partial rows, several rows, an alias and OVERRIDING.
func TestInsertWithoutColumnList(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("nolist_plain"), uniqueName("nolist_enc")
	su := superuser(t)
	for table, born := range map[string]string{plain: "date", enc: "text"} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, ssn text, note text, born %s); GRANT ALL ON %s TO %s",
			table, born, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn:  {mode: deterministic, key: nolist-ssn, type: text}
      born: {mode: randomized,    key: nolist-pii, type: date}
`, enc))})
	via, dir := p.app(t), direct(t)
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
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		for _, table := range []string{plain, enc} {
			if _, err := dir.Exec(ctx, "DELETE FROM "+table); err != nil {
				t.Fatal(err)
			}
		}
		for _, st := range statements {
			args := append([]any{mode}, st.args...)
			if _, err := dir.Exec(ctx, fmt.Sprintf(st.sql, plain), args...); err != nil {
				t.Fatalf("directly, %v: %s: %v", mode, st.sql, err)
			}
			if _, err := via.Exec(ctx, fmt.Sprintf(st.sql, enc), args...); err != nil {
				t.Fatalf("through phiguard, %v: %s: %v", mode, st.sql, err)
			}
		}
		const read = "SELECT id, ssn, note, born FROM %s ORDER BY id"
		want := tableText(t, dir, fmt.Sprintf(read, plain), pgx.QueryExecModeSimpleProtocol)
		if got := tableText(t, via, fmt.Sprintf(read, enc), pgx.QueryExecModeSimpleProtocol); got != want {
			t.Fatalf("run %d (%v): through phiguard\n%s\ndirectly\n%s", i, mode, got, want)
		}
	}
}
