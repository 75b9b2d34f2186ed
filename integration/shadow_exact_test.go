package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestShadowedOperatorDeclaredParam: the gate of a proxy-side WHERE looks
// up `name > $1` as > (text, text) when the Parse leaves $1's type to
// PostgreSQL (sqlrewrite/planner_shadow_exact.go). A Parse that declares
// $1 varchar makes PostgreSQL look up > (text, varchar) instead, which a
// schema in search_path has here (answering the opposite): phiguard must
// then check with the pg_operator scan and refuse, where the exact
// lookup of > (text, text) would find pg_catalog's and answer otherwise
// than the plaintext. Undeclared and declared text, the plaintext calls
// pg_catalog's, and phiguard answers as it does.
func TestShadowedOperatorDeclaredParam(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	schema := uniqueName("rt30param")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt30_lt(text, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 < $2 $$;
CREATE OPERATOR %[1]s.> (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30_lt)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgconn.PgConn{f.dir.PgConn(), f.via.PgConn()} {
		if err := conn.Exec(ctx, "SET search_path = "+schema+", public").Close(); err != nil {
			t.Fatal(err)
		}
	}
	const q = "SELECT id FROM %s WHERE name > $1 ORDER BY id"
	run := func(conn *pgconn.PgConn, table string, oid uint32) (string, error) {
		res := conn.ExecParams(ctx, fmt.Sprintf(q, table), [][]byte{[]byte("m")}, []uint32{oid}, nil, nil).Read()
		if res.Err != nil {
			return "", res.Err
		}
		var b strings.Builder
		for _, r := range res.Rows {
			fmt.Fprintf(&b, "%s,", r[0])
		}
		return b.String(), nil
	}
	for _, c := range []struct {
		oid     uint32
		refused bool
	}{{0, false}, {25, false}, {1043, true}} {
		want, err := run(f.dir.PgConn(), f.people[0], c.oid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := run(f.via.PgConn(), f.people[1], c.oid)
		var pe *pgconn.PgError
		switch {
		case c.refused && (!errors.As(err, &pe) || pe.Code != "0A000"):
			t.Errorf("$1 declared %d: through phiguard %v (%q), want 0A000; directly %q", c.oid, err, got, want)
		case !c.refused && (err != nil || got != want || want == ""):
			t.Errorf("$1 declared %d: through phiguard %q (%v), directly %q", c.oid, got, err, want)
		}
	}
}
