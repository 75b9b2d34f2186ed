package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam12DateStyleInFunction: a function that sets DateStyle
// inside, called before a date value in the same request: PostgreSQL
// reads the value after the function ran (under 'SQL, DMY', 02/03/2024
// is 2 March), phiguard under the DateStyle the backend reported last
// (it encrypted 3 February before the fix). A call of such a function
// now counts as a request that may change DateStyle, so the text date
// behind it is refused (0A000) rather than stored as another day: in the
// same Query, and in a pipeline behind an Execute of the call prepared
// in an earlier request (its Parse was answered long before). Sent in
// requests of their own, the call and the value store the plaintext's
// day.
func TestRedTeam12DateStyleInFunction(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 5, nil)
	ctx := testContext(t)
	fn := uniqueName("rt12_dmy")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS text LANGUAGE sql AS $$ SELECT pg_catalog.set_config('DateStyle', 'SQL, DMY', false) $$; GRANT EXECUTE ON FUNCTION %s() TO %s`, fn, fn, appUser)); err != nil {
		t.Fatal(err)
	}
	stored := func(conn *pgx.Conn, table string, id int) string {
		var born time.Time
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT born FROM %s WHERE id = %d", table, id), pgx.QueryExecModeCacheStatement).Scan(&born); err != nil {
			t.Fatal(err)
		}
		return born.Format("2006-01-02")
	}
	reset := func() {
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, "RESET DateStyle", pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatal(err)
			}
		}
	}
	ways := []struct {
		name string
		run  func(conn *pgx.Conn, table string, id int) error
	}{
		{"one Query", func(conn *pgx.Conn, table string, id int) error {
			_, err := conn.Exec(ctx, fmt.Sprintf("SELECT %s(); INSERT INTO %s (id, born) VALUES (%d, '02/03/2024')", fn, table, id), pgx.QueryExecModeSimpleProtocol)
			return err
		}},
		{"a pipeline behind a prepared call", func(conn *pgx.Conn, table string, id int) error {
			pc := conn.PgConn()
			name := "rt12call"
			if _, err := pc.Prepare(ctx, name, "SELECT "+fn+"()", nil); err != nil { // prepared, answered
				return err
			}
			b := &pgconn.Batch{}
			b.ExecPrepared(name, nil, nil, nil)
			b.ExecParams(fmt.Sprintf("INSERT INTO %s (id, born) VALUES ($1, $2)", table),
				[][]byte{[]byte(fmt.Sprint(id)), []byte("02/03/2024")}, nil, []int16{0, 0}, nil)
			_, err := pc.ExecBatch(ctx, b).ReadAll()
			if derr := pc.Deallocate(ctx, name); derr != nil && err == nil {
				err = derr
			}
			return err
		}},
		{"requests of their own", func(conn *pgx.Conn, table string, id int) error {
			if _, err := conn.Exec(ctx, "SELECT "+fn+"()", pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, born) VALUES (%d, '02/03/2024')", table, id), pgx.QueryExecModeSimpleProtocol)
			return err
		}},
	}
	for i, w := range ways {
		id := 1001 + i
		if err := w.run(f.dir, f.people[0], id); err != nil {
			t.Fatalf("%s, directly: %v", w.name, err)
		}
		if got := stored(f.dir, f.people[0], id); got != "2024-03-02" {
			t.Fatalf("%s, directly: stored %s", w.name, got)
		}
		err := w.run(f.via, f.people[1], id)
		if i < 2 {
			wantCode(t, err, "0A000", "DateStyle")
		} else if err != nil {
			t.Fatalf("%s, through phiguard: %v", w.name, err)
		} else if got := stored(f.via, f.people[1], id); got != "2024-03-02" {
			t.Errorf("%s: stored %s through phiguard, 2024-03-02 directly", w.name, got)
		}
		reset()
	}
}
