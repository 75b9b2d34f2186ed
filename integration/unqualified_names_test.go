package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// TestUnqualifiedNameInnerColumn: an unqualified name binds to the
// innermost query level with an item that has a column of that name
// (sqlrewrite/scope_columns.go). The planner took tag, in a subquery over
// a relation that has a plain column tag, for the outer table's
// encrypted tag, and encrypted 't1': 0 rows where PostgreSQL answers all
// 30. The columns of a FROM subquery, VALUES, a WITH query or a function
// with a column list are read from the statement, and the answer is
// PostgreSQL's; a table's are the database's, which the session's
// catalog lists (guard/catalog_unshadowed.go): a table without the name
// leaves it to the outer column, one with it binds it, and one the
// catalog cannot be sure of is refused, 0A000 naming it.
func TestUnqualifiedNameInnerColumn(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, bindNamesByCatalog)
	visits := uniqueName("unq_visits")
	if _, err := superuser(t).Exec(testContext(t), "CREATE TABLE "+visits+" (person int, tag text); INSERT INTO "+visits+
		" VALUES (1, 't1'); GRANT ALL ON "+visits+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT 't1' AS tag) c WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (VALUES ('t1')) c(tag) WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE id IN (SELECT a.person FROM (SELECT person, 't1' AS tag FROM %[2]s) a WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['t1']) AS u(tag) WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT 't1'::text) c WHERE text = 't1')",
		"WITH w AS (SELECT 't1' AS tag) SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM w WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM %[2]s a WHERE a.person = p.id AND tag = 't1')",
	} {
		f.sameRows(t, q)
	}
	// A table's columns are the database's, which the session's catalog
	// lists: a table with the name binds it, as PostgreSQL does (the plan
	// made knowing the catalog, guard/catalog_unshadowed.go planOf).
	// These were refused, 0A000, before.
	for _, q := range []string{
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM VISITS WHERE tag = 't1')",
		"SELECT id, (SELECT count(*) FROM VISITS v WHERE tag = 't1') FROM %[1]s",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM (SELECT * FROM VISITS) v WHERE tag = 't1')",
		"SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM public.VISITS WHERE tag = 't1')",
	} {
		f.sameRows(t, strings.ReplaceAll(q, "VISITS", visits))
	}
	f.sameRows(t, "SELECT id FROM %[1]s p WHERE id IN (SELECT person FROM "+visits+" WHERE tag = $1)", "t1")

	// Where the catalog cannot be sure which table a name is (pg_temp,
	// any session's temporary schema for all it knows), the name is
	// refused, 0A000 naming the table.
	via := f.via
	if _, err := via.Exec(testContext(t), "CREATE TEMP TABLE unq_temp (tag text)"); err != nil {
		t.Fatal(err)
	}
	q := "SELECT id FROM %[1]s p WHERE EXISTS (SELECT 1 FROM pg_temp.unq_temp WHERE tag = 't1')"
	for _, mode := range bothModes {
		_, err := rowsRaw(t, via, f.sql(q, 1), mode, pgx.TextFormatCode)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "unq_temp") || !strings.Contains(pe.Message, "qualify") {
			t.Errorf("%s (%v): %v, want 0A000 naming pg_temp.unq_temp", q, mode, err)
		}
	}
}

// TestJoinConditionBindsPastSiblings: a JOIN's ON sees its members and the
// enclosing levels, not the items before the join at its level; x.tag
// there, with a plain sibling x, is the outer table's encrypted tag. The
// planner took the sibling's plain tag, sent 't1' in clear and answered
// 0 where PostgreSQL counts the visits of each tagged person.
func TestJoinConditionBindsPastSiblings(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	visits := uniqueName("unq_visits")
	if _, err := superuser(t).Exec(testContext(t), "CREATE TABLE "+visits+" (person int, tag text); INSERT INTO "+visits+
		" VALUES (1, 't1'), (2, 't2'); GRANT ALL ON "+visits+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	f.sameRows(t, "SELECT id, (SELECT count(*) FROM "+visits+" x, "+visits+" a JOIN "+visits+" b ON x.tag = 't1') FROM %[1]s x")
}

// bindNamesByCatalog turns on limits.catalog_binds_names: a name inside
// a subquery binds to an inner table's column where the session's
// catalog is sure the table has one (guard.Session.planOf).
func bindNamesByCatalog(c *config.Config) { c.Limits.CatalogBindsNames = true }
