package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam14CatalogUnderSearchPath: phiguard reads its catalog in the
// client's session, whose search_path the client sets. An operator of a
// schema put before pg_catalog (`<>` on oid answering false) takes the
// place of the built-in one in the catalog query, which then finds no
// view reading the protected table; a write through the view must still
// be refused (0A000), never reach the encrypted column in clear.
func TestRedTeam14CatalogUnderSearchPath(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 3, nil)
	ctx := testContext(t)
	sch, view := uniqueName("rt14ev"), uniqueName("rt14v")
	setup := fmt.Sprintf(`CREATE SCHEMA %[1]s;
CREATE FUNCTION %[1]s.never(oid, oid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR %[1]s.<> (LEFTARG = oid, RIGHTARG = oid, FUNCTION = %[1]s.never);
GRANT USAGE ON SCHEMA %[1]s TO %[3]s;
CREATE VIEW %[2]s AS SELECT id, name FROM %[4]s;
GRANT ALL ON %[2]s TO %[3]s`, sch, view, appUser, f.people[1])
	if _, err := superuser(t).Exec(ctx, setup); err != nil {
		t.Fatal(err)
	}
	// A domain named text in pg_temp, which the default search_path
	// searches for types before pg_catalog: n.nspname::text became a
	// varchar(1), and no protected table matched.
	conn := f.p.app(t)
	defer conn.Close(ctx)
	for _, s := range []string{
		"CREATE DOMAIN pg_temp.text AS varchar(1)",
		"CREATE TABLE public." + uniqueName("rt14ddl") + " (x int)",
	} {
		if _, err := conn.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	f.writeThroughView(t, conn, view, 998)
	// An operator of a schema the client puts before pg_catalog.
	for _, s := range []string{
		"SET search_path = " + sch + ", public, pg_catalog",
		"CREATE TABLE public." + uniqueName("rt14ddl") + " (x int)", // the catalog is read again
	} {
		if _, err := f.via.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	f.writeThroughView(t, f.via, view, 999)
}

// writeThroughView writes a name through view and fails the test unless
// the write is refused and no name is stored in clear.
func (f *sortFixture) writeThroughView(t *testing.T, conn *pgx.Conn, view string, id int) {
	t.Helper()
	ctx := testContext(t)
	_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, name) VALUES (%d, 'RT14PLAIN')", view, id), pgx.QueryExecModeSimpleProtocol)
	var n int
	if qerr := superuser(t).QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE name = 'RT14PLAIN'", f.people[1])).Scan(&n); qerr != nil {
		t.Fatal(qerr)
	}
	if n != 0 {
		t.Fatalf("a write through the view stored the name in clear in the encrypted column (%v)", err)
	}
	wantCode(t, err, "0A000", view)
}
