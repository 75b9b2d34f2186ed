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
// policy that encrypts: phiguard refused a result holding a cell, but a
// length computed on the cells came back (72 and 71 where the plaintext
// table answers 7 and 6). The catalog lists the OIDs of the functions
// running SQL given as text, and such a call is refused (0A000).
func TestRedTeam11SQLInStringsFastPath(t *testing.T) {
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
	if werr != nil || gerr == nil || gerr.Code != "0A000" {
		t.Errorf("FunctionCall query_to_xml: through phiguard %q %v, directly %q %v", got, gerr, want, werr)
	}
}

// TestRedTeam11CellWrappers: an encrypted column inside an expression
// of the select list is either decrypted as the column, or refused, or
// its cell is found in the value (stray-cell check): never a value
// computed from the ciphertext, in text and binary results.
func TestRedTeam11CellWrappers(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt11wr",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11wr-k, type: text}"},
		twinColumn{"born", "date", "{mode: randomized, key: rt11wr-k, type: date}"})
	tw.exec(t, "INSERT INTO %s (id, name, born) VALUES (1, 'RT11Ann', '1970-01-02'), (2, NULL, '1980-03-04')", pgx.QueryExecModeSimpleProtocol)
	for _, q := range []string{
		"SELECT ARRAY[name] FROM %s ORDER BY id",
		"SELECT ROW(id, name) FROM %s ORDER BY id",
		"SELECT t FROM %s t ORDER BY id",
		"SELECT to_json(t) FROM %s t ORDER BY id",
		"SELECT json_agg(name ORDER BY id) FROM %s",
		"SELECT string_agg(name, ',') FROM %s",
		"SELECT name || '' FROM %s ORDER BY id",
		"SELECT coalesce(name, 'x') FROM %s ORDER BY id",
		"SELECT CASE WHEN id > 0 THEN name END FROM %s ORDER BY id",
		"SELECT (SELECT s.name FROM %[1]s s WHERE s.id = t.id) FROM %[1]s t ORDER BY id",
		"SELECT name::varchar FROM %s ORDER BY id",
		"SELECT name COLLATE \"C\" FROM %s ORDER BY id",
		"SELECT format('%%s', name) FROM %s ORDER BY id",
		"SELECT md5(name) FROM %s ORDER BY id",
		"SELECT left(name, 3) FROM %s ORDER BY id",
		"SELECT born + 1 FROM %s ORDER BY id",
		"SELECT extract(year FROM born) FROM %s ORDER BY id",
		"SELECT born::text FROM %s ORDER BY id",
		"SELECT jsonb_build_object('n', name) FROM %s ORDER BY id",
		"SELECT array_agg(born) FROM %s",
		"SELECT * FROM (SELECT name AS n FROM %s ORDER BY id) s",
		"WITH w AS (SELECT id, name FROM %s) SELECT name FROM w ORDER BY id",
		"SELECT x.n FROM %s t, LATERAL (SELECT t.name AS n) x ORDER BY t.id",
		"SELECT name FROM %[1]s WHERE id = 1 UNION ALL SELECT name FROM %[1]s WHERE id = 2",
		"SELECT min(name), max(born), count(name) FROM %s",
		"SELECT name IS NULL, born IS NOT NULL FROM %s ORDER BY id",
		"SELECT name::bytea FROM %s ORDER BY id",
		"SELECT convert_to(name, 'UTF8') FROM %s ORDER BY id",
		"SELECT encode(convert_to(name, 'UTF8'), 'base64') FROM %s ORDER BY id",
		"SELECT upper(name), lower(name), length(name) FROM %s ORDER BY id",
		"SELECT reverse(name) FROM %s ORDER BY id",
		"SELECT substr(name, 1), substr(name, 2) FROM %s ORDER BY id",
		"SELECT replace(name, 'A', 'A') FROM %s ORDER BY id",
		"SELECT quote_literal(name), quote_ident(name) FROM %s ORDER BY id",
		"SELECT to_json(name), to_jsonb(born) FROM %s ORDER BY id",
		"SELECT xmlelement(name n, name) FROM %s ORDER BY id",
		"SELECT name || 'x', 'x' || name FROM %s ORDER BY id",
		"SELECT split_part(name, 'z', 1) FROM %s ORDER BY id",
		"SELECT regexp_replace(name, '^', '') FROM %s ORDER BY id",
		"SELECT translate(name, 'abc', 'abc') FROM %s ORDER BY id",
		"SELECT lpad(name, 200, '*') FROM %s ORDER BY id",
		"SELECT name FROM %s WHERE name IS NOT NULL ORDER BY id",
		"SELECT octet_length(name), bit_length(name), char_length(name) FROM %s ORDER BY id",
		"SELECT to_hex(hashtext(name)) FROM %s ORDER BY id",
		"SELECT sha256(convert_to(name, 'UTF8')) FROM %s ORDER BY id",
		"SELECT unnest(ARRAY[name, 'y']) FROM %s ORDER BY id",
		"SELECT (SELECT array_agg(x) FROM unnest(ARRAY[t.name]) x) FROM %s t ORDER BY id",
	} {
		for _, mode := range bothModes {
			for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
				want, err := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, format)
				if err != nil {
					t.Fatalf("directly: %s: %v", q, err)
				}
				got, err := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, format)
				var pe *pgconn.PgError
				switch {
				case errors.As(err, &pe) && (pe.Code == "0A000" || pe.Code == "42501"):
				case err != nil:
					t.Errorf("%v format %d: %s: %v", mode, format, q, err)
				case got != want:
					t.Errorf("%v format %d: %s: through phiguard\n%s\ndirectly\n%s", mode, format, q, got, want)
				}
			}
		}
	}
}

// TestRedTeam11CrosstabSQLText: tablefunc's crosstab and connectby run
// SQL given as text, like query_to_xml: through phiguard they computed
// on the cells. Refused (0A000) under a policy that encrypts columns.
func TestRedTeam11CrosstabSQLText(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := superuser(t).Exec(ctx, "CREATE EXTENSION IF NOT EXISTS tablefunc"); err != nil {
		t.Fatal(err)
	}
	tw := newTwin(t, "rt11ct",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt11ct-k, type: text}"})
	tw.exec(t, "INSERT INTO %s (id, name) VALUES (1, 'RT11Ann'), (2, 'RT11Bo')", pgx.QueryExecModeSimpleProtocol)
	for _, q := range []string{
		"SELECT * FROM crosstab('SELECT id, ''l'', length(name) FROM %s ORDER BY 1') AS ct (id int, l int)",
		"SELECT * FROM public.crosstab('SELECT id, ''l'', name FROM %s WHERE name = ''RT11Ann'' ORDER BY 1') AS ct (id int, l text)",
	} {
		for _, mode := range bothModes {
			want, err := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatalf("directly: %s: %v", q, err)
			}
			got, err := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode)
			var pe *pgconn.PgError
			if !(errors.As(err, &pe) && pe.Code == "0A000") && (err != nil || got != want) {
				t.Errorf("%v: %s: through phiguard %v\n%s\ndirectly\n%s", mode, q, err, got, want)
			}
		}
	}
}
