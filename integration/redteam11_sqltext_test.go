package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam11SQLInStrings: functions that run SQL given as text
// (query_to_xml and its kin) read an encrypted column where the planner
// cannot see it. phiguard must answer as the plaintext table does or
// refuse (0A000 or 42501); the database computing on the cells (their
// hex, their length) must not come back as an answer.
func TestRedTeam11SQLInStrings(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt11sq",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11sq-k, type: text}"})
	tw.exec(t, "INSERT INTO %s (id, name) VALUES (1, 'RT11Ann'), (2, 'RT11Bo')", pgx.QueryExecModeSimpleProtocol)
	for _, q := range []string{
		"SELECT query_to_xml('SELECT name FROM %s ORDER BY id', true, false, '')",
		"SELECT query_to_xml('SELECT length(name) AS l FROM %s ORDER BY id', true, false, '')",
		"SELECT query_to_xml('SELECT encode(convert_to(name, ''UTF8''), ''hex'') AS h FROM %s ORDER BY id', true, false, '')",
		"SELECT table_to_xml('%s', true, false, '')",
		"SELECT xmlserialize(document query_to_xml('SELECT count(*) AS n FROM %s WHERE name = ''RT11Ann''', true, false, '') AS text)",
	} {
		for _, mode := range bothModes {
			want, err := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatalf("directly: %s: %v", q, err)
			}
			got, err := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe) && (pe.Code == "0A000" || pe.Code == "42501"):
			case err != nil:
				t.Errorf("%v: %s: %v", mode, q, err)
			case got != want:
				t.Errorf("%v: %s: through phiguard\n%s\ndirectly\n%s", mode, q, got, want)
			}
		}
	}
}

// TestRedTeam11SQLInStringsFastPath: the same query_to_xml call by the
// fast path (FunctionCall, by OID), by a role without rules under a
// policy that encrypts: phiguard refuses a result holding a cell, but
// a length computed on the cells comes back (72 and 71 where the
// plaintext table answers 7 and 6). HOLE: phiguard knows the function
// only by OID there and has no OID-to-name lookup outside the access
// rules' catalog; the fix is to resolve the OID (the built-ins' are
// fixed per major version, dblink's are not) and refuse
// sqlTextFunctions as in SQL.
func TestRedTeam11SQLInStringsFastPath(t *testing.T) {
	t.Skip("HOLE: FunctionCall of query_to_xml('SELECT length(name) ...') by OID, role without rules: the database computes on the cells (72 and 71 where the plaintext answers 7 and 6); see the test's comment")
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt11fp",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11fp-k, type: text}"})
	tw.exec(t, "INSERT INTO %s (id, name) VALUES (1, 'RT11Ann'), (2, 'RT11Bo')", pgx.QueryExecModeSimpleProtocol)
	var queryToXML uint32
	if err := tw.dir.QueryRow(ctx, "SELECT 'query_to_xml(text,boolean,boolean,text)'::regprocedure::oid").Scan(&queryToXML); err != nil {
		t.Fatal(err)
	}
	args := func(table string) [][]byte {
		return [][]byte{[]byte("SELECT length(name) AS l FROM " + table + " ORDER BY id"), []byte("t"), []byte("f"), []byte("")}
	}
	want, werr := functionCall(ctx, tw.dir.PgConn(), queryToXML, args(tw.plain))
	got, gerr := functionCall(ctx, tw.via.PgConn(), queryToXML, args(tw.enc))
	if werr != nil || gerr == nil && string(got) != string(want) { // refused, or the same answer
		t.Errorf("FunctionCall query_to_xml: through phiguard %q %v, directly %q %v", got, gerr, want, werr)
	}
}
