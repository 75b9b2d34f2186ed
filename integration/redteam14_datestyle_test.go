package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam14DateStyleUncounted: code that sets DateStyle runs in
// ways phiguard's count of "a call of a function other than a few
// built-ins" does not see: a function named like a safe built-in but
// taking other arguments (reverse(integer) in a schema of search_path:
// pg_catalog has no reverse(integer), so PostgreSQL calls it), a user
// operator, a trigger of another table, a view whose select list calls
// the function, a column default. Each runs before a text date in the
// same Query: PostgreSQL reads 02/03/2024 as 2 March after it; phiguard
// must store that day or refuse (0A000), not 3 February.
func TestRedTeam14DateStyleUncounted(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 5, nil)
	ctx := testContext(t)
	sch := uniqueName("rt14s")
	setup := fmt.Sprintf(`CREATE SCHEMA %[1]s;
CREATE FUNCTION %[1]s.dmy() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_catalog.set_config('DateStyle', 'SQL, DMY', false); RETURN 1; END $$;
CREATE FUNCTION %[1]s.reverse(integer) RETURNS int LANGUAGE sql AS $$ SELECT %[1]s.dmy() $$;
CREATE FUNCTION %[1]s.opf(int, int) RETURNS int LANGUAGE sql AS $$ SELECT %[1]s.dmy() $$;
CREATE OPERATOR %[1]s.### (LEFTARG = int, RIGHTARG = int, FUNCTION = %[1]s.opf);
CREATE FUNCTION %[1]s.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM %[1]s.dmy(); RETURN NEW; END $$;
CREATE TABLE %[1]s.side (x int);
CREATE TRIGGER side_dmy BEFORE INSERT ON %[1]s.side FOR EACH ROW EXECUTE FUNCTION %[1]s.trg();
CREATE VIEW %[1]s.v AS SELECT %[1]s.dmy() AS x;
CREATE TABLE %[1]s.dflt (x int DEFAULT %[1]s.dmy());
GRANT USAGE ON SCHEMA %[1]s TO %[2]s; GRANT ALL ON ALL TABLES IN SCHEMA %[1]s TO %[2]s;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %[1]s TO %[2]s`, sch, appUser)
	if _, err := superuser(t).Exec(ctx, setup); err != nil {
		t.Fatal(err)
	}
	stored := func(conn *pgx.Conn, table string, id int) string {
		var born time.Time
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT born FROM %s WHERE id = %d", table, id), pgx.QueryExecModeCacheStatement).Scan(&born); err != nil {
			t.Fatal(err)
		}
		return born.Format("2006-01-02")
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SET search_path = "+sch+", public", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	before := []struct{ name, sql string }{
		{"a safe name with other arguments", "SELECT reverse(1)"},
		{"a user operator", "SELECT 1 ### 1"},
		{"a trigger of another table", "INSERT INTO " + sch + ".side VALUES (1)"},
		{"a view calling the function", "SELECT x FROM " + sch + ".v"},
		{"a column default", "INSERT INTO " + sch + ".dflt DEFAULT VALUES"},
	}
	refused := 0
	for i, b := range before {
		id := 1001 + i
		run := func(conn *pgx.Conn, table string) error {
			_, err := conn.Exec(ctx, fmt.Sprintf("%s; INSERT INTO %s (id, born) VALUES (%d, '02/03/2024')", b.sql, table, id), pgx.QueryExecModeSimpleProtocol)
			return err
		}
		if err := run(f.dir, f.people[0]); err != nil {
			t.Fatalf("%s, directly: %v", b.name, err)
		}
		if got := stored(f.dir, f.people[0], id); got != "2024-03-02" {
			t.Fatalf("%s, directly: stored %s", b.name, got)
		}
		if err := run(f.via, f.people[1]); err != nil {
			wantCode(t, err, "0A000", "DateStyle")
			refused++
		} else if got := stored(f.via, f.people[1], id); got != "2024-03-02" {
			t.Errorf("%s: stored %s through phiguard, 2024-03-02 directly", b.name, got)
		}
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, "RESET DateStyle", pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatal(err)
			}
		}
	}
	if refused != len(before) {
		t.Errorf("%d of %d refused", refused, len(before))
	}
	// A date every DateStyle reads alike is the plaintext's behind them.
	iso := fmt.Sprintf("INSERT INTO %s.side VALUES (1); INSERT INTO %s (id, born) VALUES (1100, '2024-03-02')", sch, f.people[1])
	if _, err := f.via.Exec(ctx, iso, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("ISO date behind a trigger: %v", err)
	} else if got := stored(f.via, f.people[1], 1100); got != "2024-03-02" {
		t.Errorf("ISO date behind a trigger: stored %s", got)
	}
	// In a pipeline: an Execute of the trigger's INSERT, then a Bind of
	// a text date, before the first is answered.
	pc := f.via.PgConn()
	b := &pgconn.Batch{}
	b.ExecParams("INSERT INTO "+sch+".side VALUES (1)", nil, nil, nil, nil)
	b.ExecParams(fmt.Sprintf("INSERT INTO %s (id, born) VALUES ($1, $2)", f.people[1]),
		[][]byte{[]byte("1101"), []byte("02/03/2024")}, nil, []int16{0, 0}, nil)
	_, err := pc.ExecBatch(ctx, b).ReadAll()
	wantCode(t, err, "0A000", "DateStyle")
	if _, err := f.via.Exec(ctx, "RESET DateStyle", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
}
