package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// arrayColumns are a twin's array columns, each encrypted whole.
var arrayColumns = []twinColumn{
	{"id", "int PRIMARY KEY", ""},
	{"ta", "text[]", "{mode: randomized, key: arr-pii, type: 'text[]'}"},
	{"va", "varchar(4)[]", "{mode: deterministic, key: arr-det, type: 'varchar(4)[]'}"},
	{"ia", "integer[]", "{mode: randomized, key: arr-pii, type: 'integer[]'}"},
	{"ba", "bigint[]", "{mode: randomized, key: arr-pii, type: _int8}"},
	{"da", "date[]", "{mode: randomized, key: arr-pii, type: 'date[]'}"},
	{"tsa", "timestamptz[]", "{mode: randomized, key: arr-pii, type: 'timestamptz[]'}"},
	{"na", "numeric(6,2)[]", "{mode: randomized, key: arr-pii, type: 'numeric(6,2)[]'}"},
	{"ua", "uuid[]", "{mode: randomized, key: arr-pii, type: 'uuid[]'}"},
	{"fa", "double precision[]", "{mode: randomized, key: arr-pii, type: 'double precision[]'}"},
}

const arrayCols = "id, ta, va, ia, ba, da, tsa, na, ua, fa"

// arrayRows are literal rows (SQL text) of those columns: quoting and
// NULL elements, empty arrays, NULL arrays, several dimensions, explicit
// lower bounds, casts.
var arrayRows = []string{
	`'{a,b}', '{x,"y z"}', '{1,2,3}', '{9223372036854775807}', '{2024-02-29,1999-12-31}', '{"2024-01-01 10:00:00+02"}', '{1.005,-2.5}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{0.1,NaN,-Infinity}'`,
	`'{"x y",NULL,"NULL","","a\\b","q\"r",é}', '{NULL}', '{{1,2},{3,4}}', '{}', '{NULL,2024-01-01}', '{}', '{{1},{NULL}}', '{}', '{-0,1e300}'`,
	`'{}', NULL, '[0:1]={7,8}', '[-2:-2]={5}', '{{{2020-01-01}}}', NULL, '[3:3]={0}', NULL, '{}'`,
	`NULL, '{" ab ",abcd   }', ' { 1 , +2 } ', '{ -1 , NULL }', NULL, '{infinity,-infinity}', '{ 12.345 }', '{"{A0EEBC999C0B4EF8BB6D6BB9BD380A12}"}', '{1.5}'`,
	`'{a}'::text[], '{b}'::varchar[], '{5}'::int[], '{6}'::int8[], '{2000-01-01}'::date[], '{"2000-01-01 00:00"}'::timestamptz[], '{1.5}'::numeric[], '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13}'::uuid[], '{2.5}'::float8[]`,
	`'{a}'::_text, '{c}'::varchar[], '{5,6}'::int2[], '{6}'::int4[], '{2000-01-01}'::date[], '{"2000-01-01"}'::date[], '{1}'::int8[], NULL, NULL`,
	// As psycopg2 writes Python lists.
	`ARRAY['a','b c',NULL,'','x"y\z', E'\t'], ARRAY['ab','cd  ', NULL], ARRAY[1,-2, - 3, 2.5, -0.5, 1e3, 2147483647.4], ARRAY[9223372036854775807, -1, 0.5], ARRAY['2024-01-01'::date, NULL], ARRAY['2024-01-01 10:00:00+02'::timestamptz], ARRAY[1.005, -2, 3], ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14'::uuid], ARRAY['1.5'::float8, 'NaN'::float8]`,
	`ARRAY[ARRAY['a','b'],ARRAY['c',NULL]], array['x'], ARRAY[ARRAY[1,2],ARRAY[3,4]], ARRAY[[1],[2]], ARRAY[['2024-02-29'::date]], NULL, ARRAY[1234, 0.125], NULL, ARRAY[0.1, 1e300, -2, 9007199254740993]`,
}

// arrayArgs are the same kinds of values as parameters: Go slices pgx
// encodes in binary (element OID in the header) in the extended
// protocol, text array literals in the simple one.
func arrayArgs(n int, mode pgx.QueryExecMode) []any {
	if mode == pgx.QueryExecModeSimpleProtocol {
		return []any{n, `{p,"q r",NULL}`, `{ab}`, `{{1,2},{3,4}}`, `{}`, `{2024-12-31}`, `{"2024-06-01 12:00:00+00"}`, `{3.14159}`, `{b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a01}`, `{1e-5}`}
	}
	ts := time.Date(2024, 6, 1, 12, 0, 0, 123456000, time.UTC)
	return []any{n, []string{"p", "q r", "", "NULL"}, []string{"ab", "cd  "}, []int32{1, -2, 2147483647}, []int64{-9223372036854775808, 0},
		[]time.Time{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}, []time.Time{ts, ts.Add(-time.Hour)}, []float64{1.005, 2}, []string{"b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a02"}, []float64{0.1, 1.0 / 3}}
}

// TestArraysAsPostgreSQL (issue 12, arrays): arrays of supported scalars
// written through phiguard as literals, casts and parameters (text and
// binary, pgx's []string, []int32, []int64, []time.Time) in both
// protocols read back exactly as the plaintext table's do directly, in
// text (several DateStyles, TimeZones, extra_float_digits) and in
// binary with the array type OIDs; PostgreSQL's errors are raised with
// its SQLSTATEs; operators, subscripts and functions on an encrypted
// array and comparisons are refused (0A000); at rest the columns hold
// ciphertext.
func TestArraysAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "arr", arrayColumns...)
	id := 0
	for _, mode := range bothModes {
		for _, row := range arrayRows {
			id++
			tw.exec(t, fmt.Sprintf("INSERT INTO %%s (%s) VALUES (%d, %s)", arrayCols, id, row), mode)
		}
		id++
		tw.exec(t, "INSERT INTO %s ("+arrayCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", mode, arrayArgs(id, mode)...)
		id++
		tw.exec(t, "INSERT INTO %s (id, ta, ia) VALUES ($1, $2, $3)", mode, id, nil, nil)
	}
	// COPY FROM in text and CSV, and pgx's binary COPY of Go slices.
	for k, data := range []struct{ opts, rows string }{
		{"", "501\t{a,\"b \\\\\" c\",NULL}\t{ab}\t{{1,2},{3,4}}\t\\N\t{2024-02-29}\t{\"2024-01-01 00:00:00+05\"}\t{1.234}\t{}\t{1e-3}\n"},
		{"(FORMAT csv)", "502,\"{\"\"x,y\"\",\"\"\"\"}\",{},\"[2:3]={5,6}\",,{},{},\"{NULL,2}\",,\n"},
	} {
		for _, side := range []struct {
			conn  *pgx.Conn
			table string
		}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
			if _, err := side.conn.PgConn().CopyFrom(testContext(t), strings.NewReader(data.rows), "COPY "+side.table+" ("+arrayCols+") FROM STDIN "+data.opts); err != nil {
				t.Fatalf("COPY FROM %d: %v", k, err)
			}
		}
	}
	copyRows := [][]any{{600, []string{"c", "d e"}, []string{"ab"}, []int32{1, 2}, []int64{3}, nil, []time.Time{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, nil, nil, []float64{0.5}}}
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
		if _, err := side.conn.CopyFrom(testContext(t), pgx.Identifier{side.table}, strings.Split(arrayCols, ", "), pgx.CopyFromRows(copyRows)); err != nil {
			t.Fatalf("binary COPY FROM: %v", err)
		}
	}
	id = 600
	// COPY TO in text, CSV and binary (array_send's bytes).
	for _, opts := range []string{"", "(FORMAT csv)", "(FORMAT binary)"} {
		copied := func(conn *pgx.Conn, table string) string {
			var b strings.Builder
			if _, err := conn.PgConn().CopyTo(testContext(t), &b, "COPY "+table+" ("+arrayCols+") TO STDOUT "+opts); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		if got, want := copied(tw.via, tw.enc), copied(tw.dir, tw.plain); got != want {
			t.Fatalf("COPY TO %s: through phiguard\n%q\ndirectly\n%q", opts, got, want)
		}
	}
	compared := 0
	for _, set := range []string{"RESET ALL", "SET DateStyle = 'SQL, DMY'", "SET TimeZone = 'Asia/Kolkata'", "SET extra_float_digits = 0", "SET DateStyle = German"} {
		tw.both(t, set)
		for _, mode := range bothModes {
			tw.same(t, "SELECT "+arrayCols+" FROM %s ORDER BY id", mode, set)
			compared += id * (len(arrayColumns) - 1)
		}
	}
	tw.both(t, "RESET ALL")
	compared += sameBinary(t, tw, "SELECT "+arrayCols+" FROM %s ORDER BY id")
	// pgx reads them back into Go slices the same.
	for _, mode := range bothModes {
		scan := func(conn *pgx.Conn, table string) string {
			var ta []*string
			var ia []int32
			var tsa []time.Time
			if err := conn.QueryRow(testContext(t), "SELECT ta, ia, tsa FROM "+table+" WHERE id = 1", mode).Scan(&ta, &ia, &tsa); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(len(ta), *ta[0], ia, tsa)
		}
		if got, want := scan(tw.via, tw.enc), scan(tw.dir, tw.plain); got != want {
			t.Fatalf("scan (%v): through phiguard %s, directly %s", mode, got, want)
		}
	}
	// PostgreSQL's errors: too long for varchar(4), not an integer, out
	// of range, ragged, malformed, numeric overflow.
	for _, mode := range bothModes {
		for _, bad := range []string{"va) VALUES (900, '{abcdef}'", "ia) VALUES (900, '{1,x}'", "ia) VALUES (900, '{99999999999}'",
			"ia) VALUES (900, '{{1},{2,3}}'", "ta) VALUES (900, '{a'", "na) VALUES (900, '{123456}'", "ta) VALUES (900, 'a'",
			"va) VALUES (900, ARRAY['abcdef']", "ia) VALUES (900, ARRAY[1, 99999999999]", "na) VALUES (900, ARRAY[123456])",
			"ia) VALUES (900, ARRAY[2147483647.5]"} {
			sameError(t, tw, "INSERT INTO %s (id, "+bad+")", mode)
		}
	}
	// Constructors whose assignment is more than each element's input
	// are refused rather than guessed: strings into an integer array
	// (PostgreSQL: 42804), an empty ARRAY[], an expression.
	for _, bad := range []string{"ia) VALUES (901, ARRAY['1']", "ia) VALUES (901, ARRAY[1, 'x']", "ta) VALUES (901, ARRAY[]::text[]",
		"ta) VALUES (901, ARRAY[upper('a')]", "ta) VALUES (901, ARRAY['a'::char]"} {
		for _, mode := range bothModes {
			_, err := tw.via.Exec(testContext(t), fmt.Sprintf("INSERT INTO %s (id, "+bad+")", tw.enc), mode)
			if pgCode(err) == "" || !strings.HasPrefix(pgCode(err), "0A") && !strings.HasPrefix(pgCode(err), "42") {
				t.Fatalf("%s through phiguard: %v, want a refusal", bad, err)
			}
		}
	}
	// Nothing is computed on an encrypted array.
	for _, q := range []string{"SELECT ta[1] FROM %s", "SELECT array_length(ia, 1) FROM %s", "SELECT ta || '{x}' FROM %s",
		"SELECT id FROM %s WHERE ta = '{a,b}'", "SELECT id FROM %s WHERE 'a' = ANY(ta)", "SELECT id FROM %s WHERE ia @> '{1}'",
		"SELECT id FROM %s WHERE va = '{ab}'", "SELECT DISTINCT va FROM %s", "SELECT unnest(ta) FROM %s", "SELECT id FROM %s ORDER BY ia"} {
		for _, mode := range bothModes {
			_, err := tw.via.Exec(testContext(t), fmt.Sprintf(q, tw.enc), mode)
			wantPgError(t, err, "0A000")
		}
	}
	var plain int
	cond := make([]string, 0, len(arrayColumns))
	for _, c := range arrayColumns[1:] {
		cond = append(cond, fmt.Sprintf("(%s IS NOT NULL AND %s NOT LIKE '~phg~%%')", c.name, c.name))
	}
	if err := superuser(t).QueryRow(testContext(t), "SELECT count(*) FROM "+tw.enc+" WHERE "+strings.Join(cond, " OR ")).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("%d rows with plaintext at rest (%v)", plain, err)
	}
	t.Logf("%d values compared in text and binary", compared)
}

// TestArrayDeclaredParams: parameters declared as another array type
// than the column's, in binary and text, as psycopg 3 declares a list of
// small ints (smallint[]) or of strings (text[]): assigned as
// PostgreSQL assigns them where each element converts by its text
// (integers into integers or numeric, strings into string types), else
// PostgreSQL's error (a binary array whose header names another element
// type: 42804).
func TestArrayDeclaredParams(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "arrdecl", arrayColumns...)
	m := pgtype.NewMap()
	enc := func(oid uint32, format int16, v any) []byte {
		b, err := m.Encode(oid, format, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const oidInt2Arr, oidInt4Arr, oidInt8Arr, oidTextArr, oidDateArr = 1005, 1007, 1016, 1009, 1182
	id := 0
	for _, format := range []int16{pgtype.TextFormatCode, pgtype.BinaryFormatCode} {
		id++
		params := [][]byte{enc(pgtype.Int4OID, format, id), enc(oidTextArr, format, []string{"a", "b c"}), enc(oidTextArr, format, []string{"ab  ", "x"}),
			enc(oidInt2Arr, format, []int16{1, -2}), enc(oidInt4Arr, format, []int32{7, 2147483647}), enc(oidInt8Arr, format, []int64{5})}
		sql := "INSERT INTO %s (id, ta, va, ia, ba, na) VALUES ($1, $2, $3, $4, $5, $6)"
		oids := []uint32{pgtype.Int4OID, oidTextArr, oidTextArr, oidInt2Arr, oidInt4Arr, oidInt8Arr}
		formats := []int16{format, format, format, format, format, format}
		for _, side := range []struct {
			conn  *pgx.Conn
			table string
		}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
			if _, err := side.conn.PgConn().ExecParams(testContext(t), fmt.Sprintf(sql, side.table), params, oids, formats, nil).Close(); err != nil {
				t.Fatalf("format %d: %v", format, err)
			}
		}
		// Narrowing: bigint[] beyond integer, and a too long text[] into
		// varchar(4)[]: PostgreSQL's 22003 and 22001.
		for _, bad := range []struct {
			col  string
			oid  uint32
			v    any
			code string
		}{{"ia", oidInt8Arr, []int64{1 << 40}, "22003"}, {"va", oidTextArr, []string{"abcdef"}, "22001"}} {
			for _, side := range []struct {
				conn  *pgx.Conn
				table string
			}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
				_, err := side.conn.PgConn().ExecParams(testContext(t), fmt.Sprintf("INSERT INTO %s (id, %s) VALUES (999, $1)", side.table, bad.col),
					[][]byte{enc(bad.oid, format, bad.v)}, []uint32{bad.oid}, []int16{format}, nil).Close()
				wantPgError(t, err, bad.code)
			}
		}
	}
	// A binary date[] into an integer[] column: the header's element type
	// differs, 42804 on both sides.
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
		_, err := side.conn.PgConn().ExecParams(testContext(t), fmt.Sprintf("INSERT INTO %s (id, ia) VALUES (998, $1)", side.table),
			[][]byte{enc(oidDateArr, 1, []time.Time{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})}, []uint32{oidInt4Arr}, []int16{1}, nil).Close()
		wantPgError(t, err, "42804")
	}
	for _, mode := range bothModes {
		tw.same(t, "SELECT "+arrayCols+" FROM %s ORDER BY id", mode, "declared parameters")
	}
	sameBinary(t, tw, "SELECT "+arrayCols+" FROM %s ORDER BY id")
}

// TestArraySettingsAsPostgreSQL: arrays of the types whose text depends
// on a session setting phiguard reads itself (bytea_output,
// extra_float_digits) or follows (IntervalStyle, TimeZone) print as
// PostgreSQL prints them under each setting, element by element.
func TestArraySettingsAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "arrset",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ya", "bytea[]", "{mode: randomized, key: arrs-pii, type: 'bytea[]'}"},
		twinColumn{"iva", "interval[]", "{mode: randomized, key: arrs-pii, type: 'interval[]'}"},
		twinColumn{"ra", "real[]", "{mode: randomized, key: arrs-pii, type: 'real[]'}"},
		twinColumn{"tza", "timetz[]", "{mode: randomized, key: arrs-pii, type: 'timetz[]'}"},
		twinColumn{"jba", "jsonb[]", "{mode: randomized, key: arrs-pii, type: 'jsonb[]'}"})
	cols := "id, ya, iva, ra, tza, jba"
	for i, mode := range bothModes {
		tw.exec(t, fmt.Sprintf(`INSERT INTO %%s (%s) VALUES (%d, '{"\\\\xdeadbeef",NULL,"\\\\x"}', '{"1 year 2 mons -3 days 04:05:06.5","-1 day"}', '{0.1,3.4028235e38,-0}', '{"10:00+02",00:00Z}', '{"{\"b\": 1, \"a\": [1.50]}",null}')`, cols, i+1), mode)
		tw.exec(t, "INSERT INTO %s ("+cols+") VALUES ($1, $2, $3, $4, $5, $6)", mode, i+10, `{"\\x00ff"}`, `{"P1Y2M3DT4H5M6S"}`, `{1.5}`, `{"23:59:59.5-05:30"}`, `{"[]"}`)
	}
	for _, set := range []string{"RESET ALL", "SET bytea_output = escape", "SET extra_float_digits = 0", "SET IntervalStyle = sql_standard",
		"SET IntervalStyle = iso_8601", "SET IntervalStyle = postgres_verbose", "SET TimeZone = 'Asia/Kolkata'"} {
		tw.both(t, set)
		for _, mode := range bothModes {
			tw.same(t, "SELECT "+cols+" FROM %s ORDER BY id", mode, set)
		}
	}
	tw.both(t, "RESET ALL")
	sameBinary(t, tw, "SELECT "+cols+" FROM %s ORDER BY id")
}

// TestArrayEqualityAsPostgreSQL: on a deterministic array column whose
// elements have one text per value and no modifier, =, <>, IN, a
// parameter, GROUP BY, DISTINCT and count(DISTINCT) find what
// PostgreSQL's array equality finds (same dimensions, lower bounds,
// NULLs and elements).
func TestArrayEqualityAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "arreq",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"dt", "text[]", "{mode: deterministic, key: arreq-det, type: 'text[]'}"},
		twinColumn{"di", "integer[]", "{mode: deterministic, key: arreq-det, type: 'integer[]'}"},
		twinColumn{"dd", "date[]", "{mode: deterministic, key: arreq-det, type: 'date[]'}"})
	rows := []string{`'{a,b}', '{1,2}', '{2024-01-01}'`, `'{"a", b}', '[0:1]={1,2}', '{20240101}'`, `'{a,NULL}', '{{1,2}}', '{}'`,
		`'{}', ' { 1 , +2 } ', NULL`, `NULL, '{2,1}', '{2024-01-01,2024-01-01}'`, `'{a,b,NULL}', '{1,2}', '{2024-01-02}'`}
	for i, r := range rows {
		tw.exec(t, fmt.Sprintf("INSERT INTO %%s (id, dt, di, dd) VALUES (%d, %s)", i+1, r), pgx.QueryExecModeSimpleProtocol)
	}
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id FROM %s WHERE dt = '{a,b}' ORDER BY id",
			"SELECT id FROM %s WHERE dt <> '{a,b}' ORDER BY id",
			"SELECT id FROM %s WHERE dt IN ('{a,NULL}', '{}') ORDER BY id",
			"SELECT id FROM %s WHERE dt = '{a,b}'::text[] ORDER BY id",
			"SELECT id FROM %s WHERE di = '{1,2}' ORDER BY id",
			"SELECT id FROM %s WHERE di = '[0:1]={1,2}' ORDER BY id",
			"SELECT id FROM %s WHERE dd = '{2024-01-01}' ORDER BY id",
			"SELECT count(*), min(id) FROM %s GROUP BY di ORDER BY 2",
			"SELECT count(DISTINCT dt), count(DISTINCT di), count(DISTINCT dd) FROM %s",
		} {
			tw.same(t, q, mode, q)
		}
		ids := func(conn *pgx.Conn, table string) string {
			var got []int
			rows, err := conn.Query(testContext(t), "SELECT id FROM "+table+" WHERE dt = $1 OR di = $2 ORDER BY id", mode, []string{"a", "b"}, []int32{2, 1})
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n int
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				got = append(got, n)
			}
			return fmt.Sprint(got, rows.Err())
		}
		if got, want := ids(tw.via, tw.enc), ids(tw.dir, tw.plain); got != want || want != "[1 2 5] <nil>" {
			t.Fatalf("parameters (%v): through phiguard %s, directly %s", mode, got, want)
		}
	}
}
