package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam6TypeOrder: every sortable type's edge values (NaN,
// infinities, -0, '1 mon' = '30 days', time zones, char(n) padding, bytea
// and uuid bytes, multibyte text, date and timestamptz extremes) in each
// direction and NULLS order, selected and hidden, in two session time
// zones: held.
func TestRedTeam6TypeOrder(t *testing.T) {
	t.Parallel()
	pol := func(typ string) string { return "{mode: randomized, key: rt6, type: " + typ + "}" }
	tw := newTwin(t, "rt6types",
		twinColumn{"id", "int", ""},
		twinColumn{"n", "numeric", pol("numeric")},
		twinColumn{"f", "float8", pol("float8")},
		twinColumn{"r", "real", pol("real")},
		twinColumn{"iv", "interval", pol("interval")},
		twinColumn{"ts", "timestamptz", pol("timestamptz")},
		twinColumn{"c", "char(5)", pol(`"char(5)"`)},
		twinColumn{"v", "varchar(10)", pol(`"varchar(10)"`)},
		twinColumn{"b", "bytea", pol("bytea")},
		twinColumn{"u", "uuid", pol("uuid")},
		twinColumn{"t", "text", pol("text")},
		twinColumn{"ti", "time", pol("time")},
		twinColumn{"d", "date", pol("date")},
		twinColumn{"i8", "bigint", pol("bigint")},
		twinColumn{"bo", "boolean", pol("boolean")},
	)
	ns := []string{"'NaN'", "'Infinity'", "'-Infinity'", "0", "-0.0", "1.10", "1.1", "1e-30", "-5", "NULL", "123456789012345678901234567890.5"}
	fs := []string{"'NaN'", "'Infinity'", "'-Infinity'", "0", "'-0'", "1.5", "-1.5", "1e-300", "NULL", "2.2250738585072014e-308", "1.5"}
	rs := []string{"'NaN'", "'Infinity'", "'-Infinity'", "0", "'-0'", "1.5", "-1.5", "1e-30", "NULL", "1e-38", "1.5"}
	ivs := []string{"'1 mon'", "'30 days'", "'720 hours'", "'1 day'", "'24 hours'", "'-1 day'", "NULL", "'1 year'", "'360 days'", "'1 mon -1 sec'", "'29 days 23:59:59.999999'"}
	tss := []string{"'2020-01-01 10:00+05'", "'2020-01-01 06:00+00'", "'2020-01-01 05:00Z'", "'infinity'", "'-infinity'", "NULL", "'1999-12-31 23:59:59.999999+14'", "'2000-01-01 00:00-12'", "'0001-01-01 00:00 BC'", "'2020-01-01 05:00:00.000001Z'", "'2020-01-01 05:00Z'"}
	cs := []string{"'a'", "'a  '", "''", "' a'", "NULL", "'A'", "'é'", "'a\\t'", "'ab'", "'b'", "'a'"}
	bs := []string{"'\\x00'", "'\\x'", "'\\xff'", "'\\x0000'", "NULL", "'\\x7f'", "'\\x80'", "'\\x00ff'", "'\\x01'", "'\\xff00'", "'\\x00'"}
	us := []string{"'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "'80000000-0000-0000-0000-000000000000'", "'7fffffff-ffff-ffff-ffff-ffffffffffff'", "NULL", "'00000000-0000-0000-0000-000000000001'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'10000000-0000-0000-0000-000000000000'", "'00000000-0000-0000-0000-000000000000'", "'01000000-0000-0000-0000-000000000000'"}
	txs := []string{"'a'", "'B'", "''", "'é'", "NULL", "'e\u0301'", "'日本'", "'a '", "'ä'", "'Z'", "'\u00ff'"}
	tis := []string{"'00:00'", "'24:00'", "'23:59:59.999999'", "'12:00'", "NULL", "'00:00:00.000001'", "'12:00'", "'01:00'", "'13:00'", "'11:59'", "'00:00'"}
	ds := []string{"'infinity'", "'-infinity'", "'2000-01-01'", "'4713-01-01 BC'", "NULL", "'5874897-12-31'", "'1970-01-01'", "'2000-01-01'", "'1999-12-31'", "'0001-01-01'", "'0001-12-31 BC'"}
	i8s := []string{"0", "-1", "9223372036854775807", "-9223372036854775808", "NULL", "1", "2", "-2", "100", "10", "0"}
	bos := []string{"'t'", "'f'", "NULL", "'t'", "'f'", "'t'", "'f'", "NULL", "'t'", "'f'", "'t'"}
	vs := []string{"'a'", "'a '", "''", "'A'", "NULL", "'ab'", "'a'", "'b'", "'é'", "' '", "'  '"}
	for i := range ns {
		tw.exec(t, fmt.Sprintf("INSERT INTO %%s VALUES (%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", i, ns[i], fs[i], rs[i], ivs[i], tss[i], cs[i], vs[i], bs[i], us[i], txs[i], tis[i], ds[i], i8s[i], bos[i]), pgx.QueryExecModeSimpleProtocol)
	}
	for _, tz := range []string{"UTC", "Asia/Kolkata"} {
		tw.both(t, "SET TimeZone = '"+tz+"'")
		for _, col := range []string{"n", "f", "r", "iv", "ts", "c", "v", "b", "u", "t", "ti", "d", "i8", "bo"} {
			for _, dir := range []string{"", " DESC", " NULLS FIRST", " DESC NULLS LAST"} {
				q := "SELECT id, " + col + " FROM %s ORDER BY " + col + dir + ", id"
				for _, mode := range bothModes {
					want := tableText(t, tw.dir, fmt.Sprintf(q, tw.plain), mode)
					rows, err := tw.via.Query(testContext(t), fmt.Sprintf(q, tw.enc), mode, pgx.QueryResultFormats{pgx.TextFormatCode})
					got := ""
					if err == nil {
						var b strings.Builder
						for rows.Next() {
							fmt.Fprintln(&b, string(rows.RawValues()[0]))
						}
						rows.Close()
						err = rows.Err()
						got = b.String()
					}
					var wids strings.Builder
					for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
						fmt.Fprintln(&wids, strings.SplitN(l, " |", 2)[0])
					}
					if err != nil || got != wids.String() {
						t.Errorf("%s %s (%v): err %v\nvia %q\ndir %q\n%s", tz, q, mode, err, got, wids.String(), want)
					}
				}
			}
			// hidden key, selected elsewhere; binary
			q := "SELECT id FROM %s ORDER BY " + col + " DESC, id"
			tw.same(t, q, pgx.QueryExecModeCacheStatement, "hidden "+col)
		}
	}
}
