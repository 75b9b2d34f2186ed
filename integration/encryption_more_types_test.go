package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// moreTypeColumns are a twin's columns of every type issue 12 added, each
// encrypted (two deterministic, so equality search on them is checked
// too).
var moreTypeColumns = []twinColumn{
	{"id", "int PRIMARY KEY", ""},
	{"u", "uuid", "{mode: deterministic, key: more-det, type: uuid}"},
	{"c", "char(5)", "{mode: deterministic, key: more-det, type: char(5)}"},
	{"v", "varchar(5)", "{mode: randomized, key: more-pii, type: varchar(5)}"},
	{"r", "real", "{mode: randomized, key: more-pii, type: real}"},
	{"d", "double precision", "{mode: randomized, key: more-pii, type: double precision}"},
	{"t", "time(3)", "{mode: randomized, key: more-pii, type: time(3)}"},
	{"tz", "timetz", "{mode: randomized, key: more-pii, type: timetz}"},
	{"i", "interval", "{mode: randomized, key: more-pii, type: interval}"},
	{"b", "bytea", "{mode: randomized, key: more-pii, type: bytea}"},
	{"j", "json", "{mode: randomized, key: more-pii, type: json}"},
	{"jb", "jsonb", "{mode: randomized, key: more-pii, type: jsonb}"},
}

// moreTypeRows are literal rows (SQL text) of those columns.
var moreTypeRows = []string{
	`'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'ab', 'xyz  ', '1.5', '0.1', '23:59:59.9996', '10:00+02', '1 year 2 mons -3 days 04:05:06.5', '\xdeadbeef', '{"b": 1, "a": [1, 2]}', '{"b": 1, "a": {"y": 1e2, "x": "\u00e9"}, "b": 2}'`,
	`'{a0eebc999c0b4ef8bb6d6bb9bd380a12}', 'é', '', 'NaN', '-Infinity', 'allballs', '23:00:00-05:30', '-1 day +2 hours ago', 'a\\b\001c', '[1,  2 ]', '[1, "a", null, true, 1.50, -0]'`,
	`'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', 'abcde  ', 'ab', '3.4028235e38', '1e-300', '12:30 pm', '00:00:00Z', 'P1Y2M3DT4H5M6.5S', '', '"x"', '{}'`,
	`'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14', ' ', ' ', '-0', '123456789012345680000', '1:02', '24:00:00+14', '@ 3 days 4 hours ago', '\x', '{"a":1,"a":2}', '{"aa": 1, "b": 2, "a": 3}'`,
}

// moreTypeArgs are the same kinds of values as parameters: in the
// extended protocol Go values pgx encodes (in binary where it can) in the
// types the ParameterDescription names, in the simple one text.
func moreTypeArgs(n int, mode pgx.QueryExecMode) []any {
	if mode == pgx.QueryExecModeSimpleProtocol {
		return []any{n, fmt.Sprintf("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a%02d", n), "q", "w  ", "0.3", "-1e-5",
			"08:15:30.1235", "08:15:30-03", "36 hours 1.5 sec", `\x0001`, `{"k": [true]}`, `{"z": 1, "a": "x", "z": 2}`}
	}
	return []any{n, fmt.Sprintf("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a%02d", n), "q", "w  ", float32(0.1) * float32(n), 1.0 / float64(n),
		"08:15:30.1235", "08:15:30-03", 36*time.Hour + 1500*time.Millisecond, []byte{0, 1, 2, '\\', 0xff}, `{"k": [true]}`, map[string]any{"z": n, "a": "x"}}
}

// TestMoreTypesAsPostgreSQL (issue 12, more types): every added type,
// written through phiguard as literals and as parameters, in both
// protocols, reads back exactly as the plaintext table does directly,
// in text under every extra_float_digits, IntervalStyle and
// bytea_output tried, and in binary, with the same type OIDs, sizes and
// modifiers; the errors PostgreSQL gives (22001 for a varchar or char
// too long) are the same; and at rest the columns hold ciphertext.
func TestMoreTypesAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "more", moreTypeColumns...)
	cols := "id, u, c, v, r, d, t, tz, i, b, j, jb"
	id := 0
	for _, mode := range bothModes {
		for _, row := range moreTypeRows {
			id++
			tw.exec(t, fmt.Sprintf("INSERT INTO %%s (%s) VALUES (%d, %s)", cols, id, row), mode)
		}
		id++
		tw.exec(t, "INSERT INTO %s ("+cols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", mode, moreTypeArgs(id, mode)...)
	}
	compared := 0
	settings := []string{"RESET ALL", "SET extra_float_digits = 0", "SET extra_float_digits = 3", "SET extra_float_digits = -7",
		"SET IntervalStyle = postgres_verbose", "SET IntervalStyle = sql_standard", "SET IntervalStyle = iso_8601",
		"SET bytea_output = escape", "SET TimeZone = 'Asia/Kolkata'"}
	for _, set := range settings {
		tw.both(t, set)
		for _, mode := range bothModes {
			tw.same(t, "SELECT "+cols+" FROM %s ORDER BY id", mode, set)
			compared += id * (len(moreTypeColumns) - 1)
		}
	}
	// Settings changed other ways than SET: set_config, a rolled-back
	// SET, SET LOCAL, an extended-protocol SET; each read in the next
	// request.
	for _, change := range []string{"SELECT set_config('bytea_output', 'escape', false), set_config('extra_float_digits', '-3', false)",
		"BEGIN; SET extra_float_digits = 2; SET bytea_output = hex; ROLLBACK", "BEGIN; SET LOCAL extra_float_digits = 0; COMMIT", "RESET ALL"} {
		tw.both(t, change)
		for _, mode := range bothModes {
			tw.same(t, "SELECT id, r, d, b FROM %s ORDER BY id", mode, change)
			compared += id * 3
		}
	}
	tw.exec(t, "SET extra_float_digits = -2 /* %s */", pgx.QueryExecModeCacheStatement)
	tw.same(t, "SELECT id, r, d FROM %s ORDER BY id", pgx.QueryExecModeCacheStatement, "SET in the extended protocol")
	// A SET and a text read of such a column in one request: refused,
	// since phiguard reads the settings only after the request.
	_, err := tw.via.Exec(testContext(t), "SET extra_float_digits = 0; SELECT r FROM "+tw.enc, pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "0A000")
	tw.both(t, "RESET ALL")
	compared += sameBinary(t, tw, "SELECT "+cols+" FROM %s ORDER BY id")
	// Input read under the session's settings: a signed sql_standard
	// interval applies its sign to every field, a timetz without an
	// offset takes the zone's offset today.
	tw.both(t, "SET IntervalStyle = sql_standard; SET TimeZone = 'America/New_York'")
	for _, mode := range bothModes {
		id++
		tw.exec(t, fmt.Sprintf("INSERT INTO %%s (id, i, tz) VALUES (%d, '-1 2:03:04', '10:00'), (%d, $1, $2)", id, id+100), mode, "-1-2", "23:59:59.5")
	}
	tw.both(t, "RESET ALL")
	// Constants as drivers inline them: casts, negative numbers.
	for _, mode := range bothModes {
		id++
		tw.exec(t, fmt.Sprintf("INSERT INTO %%s (id, u, r, d, t, i, b, jb) VALUES (%d, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a99'::uuid, -1.5, '-0.05'::float8, '10:00'::time, '1 day'::interval, '\\x01'::bytea, '[2,1]'::jsonb)", id), mode)
	}
	// COPY FROM, in text and CSV.
	for k, data := range []struct{ opts, rows string }{
		{"", "501\ta0eebc99-9c0b-4ef8-bb6d-6bb9bd380a51\txy\t\\N\t-2.5e-3\t1e300\t13:14:15.1234\t13:14:15+01\t2 weeks 1 day ago\t\\\\x00ff\t{\"a\":1}\t{\"b\":[1,{\"c\":2,\"a\":1}]}\n"},
		{"(FORMAT csv)", "502,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a52,\"x,y\",,Infinity,-0,00:00,00:00-00,1-2,\\x,\"[]\",\"{\"\"k\"\": null}\"\n"},
	} {
		for _, side := range []struct {
			conn  *pgx.Conn
			table string
		}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
			if _, err := side.conn.PgConn().CopyFrom(testContext(t), strings.NewReader(data.rows), "COPY "+side.table+" ("+cols+") FROM STDIN "+data.opts); err != nil {
				t.Fatalf("COPY FROM %d: %v", k, err)
			}
		}
	}
	// COPY TO, in text and CSV, under escape bytea_output.
	tw.both(t, "SET bytea_output = escape; SET IntervalStyle = sql_standard")
	for _, opts := range []string{"", "(FORMAT csv)"} {
		copied := func(conn *pgx.Conn, table string) string {
			var b strings.Builder
			if _, err := conn.PgConn().CopyTo(testContext(t), &b, "COPY "+table+" ("+cols+") TO STDOUT "+opts); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		if got, want := copied(tw.via, tw.enc), copied(tw.dir, tw.plain); got != want {
			t.Fatalf("COPY %s: through phiguard\n%s\ndirectly\n%s", opts, got, want)
		}
	}
	tw.both(t, "RESET ALL")
	tw.same(t, "SELECT "+cols+" FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, "constants")
	all := int(queryInt(t, tw.dir, "SELECT count(*) FROM "+tw.plain))
	compared += 3 * all * (len(moreTypeColumns) - 1) // the last text read and COPY TO twice
	// Equality on the deterministic columns finds the same rows.
	for _, mode := range bothModes {
		tw.same(t, "SELECT id FROM %s WHERE u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' OR c = 'ab' ORDER BY id", mode, "equality")
	}
	// A compared value longer than char(5) matches nothing (trailing
	// spaces aside), where writing it would be refused.
	for _, mode := range bothModes {
		for _, cond := range []string{"c = 'abcdef'", "c = 'abcde   '", "c <> 'abcdefg'", "c IN ('ab', 'toolongvalue')", "c NOT IN ('toolongvalue')"} {
			tw.same(t, "SELECT id FROM %s WHERE "+cond+" ORDER BY id", mode, cond)
		}
		for _, arg := range []string{"abcdef", "abcde  ", "ab"} {
			ids := func(conn *pgx.Conn, table string) string {
				var got []int
				rows, err := conn.Query(testContext(t), "SELECT id FROM "+table+" WHERE c = $1 ORDER BY id", mode, arg)
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
			if got, want := ids(tw.via, tw.enc), ids(tw.dir, tw.plain); got != want {
				t.Fatalf("c = $1 (%q, %v): through phiguard %s, directly %s", arg, mode, got, want)
			}
		}
	}
	// PostgreSQL's own errors.
	for _, mode := range bothModes {
		for _, bad := range []string{"v) VALUES (100, 'abcdef'", "c) VALUES (100, 'abcdef'", "r) VALUES (100, '1e39'", "u) VALUES (100, 'xyz'"} {
			sameError(t, tw, "INSERT INTO %s (id, "+bad+")", mode)
		}
	}
	var plain int
	cond := make([]string, 0, len(moreTypeColumns))
	for _, c := range moreTypeColumns[1:] {
		cond = append(cond, fmt.Sprintf("(%s IS NOT NULL AND %s NOT LIKE '~phg~%%')", c.name, c.name))
	}
	if err := superuser(t).QueryRow(testContext(t), "SELECT count(*) FROM "+tw.enc+" WHERE "+strings.Join(cond, " OR ")).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("%d rows with plaintext at rest (%v)", plain, err)
	}
	t.Logf("%d values compared in text and binary", compared)
}

// sameBinary checks that a query's rows in binary, and its field
// descriptions, are the same on both sides; it returns the values
// compared.
func sameBinary(t *testing.T, tw *twin, query string) int {
	t.Helper()
	read := func(conn *pgx.Conn, table string) (string, int) {
		rows, err := conn.Query(testContext(t), fmt.Sprintf(query, table), pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		n := 0
		for rows.Next() {
			for _, v := range rows.RawValues() {
				if v == nil {
					b.WriteString("NULL")
				}
				fmt.Fprintf(&b, "%x|", v)
				n++
			}
			b.WriteString("\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for _, f := range rows.FieldDescriptions() {
			fmt.Fprintf(&b, "%s oid %d size %d mod %d\n", f.Name, f.DataTypeOID, f.DataTypeSize, f.TypeModifier)
		}
		return b.String(), n
	}
	want, n := read(tw.dir, tw.plain)
	if got, _ := read(tw.via, tw.enc); got != want {
		t.Fatalf("binary: through phiguard\n%s\ndirectly\n%s", got, want)
	}
	return n
}

// sameError checks that a statement fails with the same SQLSTATE and
// message on both sides.
func sameError(t *testing.T, tw *twin, sql string, mode pgx.QueryExecMode) {
	t.Helper()
	ctx := testContext(t)
	_, errDir := tw.dir.Exec(ctx, fmt.Sprintf(sql, tw.plain), mode)
	_, errVia := tw.via.Exec(ctx, fmt.Sprintf(sql, tw.enc), mode)
	pd, pv := wantPgError(t, errDir, pgCode(errDir)), wantPgError(t, errVia, pgCode(errDir))
	if strings.HasPrefix(pd.Code, "22001") && pd.Message != pv.Message {
		t.Fatalf("%s: through phiguard %q, directly %q", sql, pv.Message, pd.Message)
	}
}

// pgCode is an error's SQLSTATE ("" for another error).
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
