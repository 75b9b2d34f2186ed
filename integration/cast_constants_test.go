package integration

import (
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/keys"
)

// TestCastConstantsAsPostgreSQL: a constant cast to a type PostgreSQL's
// assignment converts by value alone is folded and encrypted like one cast
// to the column's own type, and stores what PostgreSQL stores. psycopg2
// writes a naive datetime as '…'::timestamp, also into a timestamptz
// column, where it is read in the session's TimeZone (SQLAlchemy's naive
// datetimes; the ORM workload found it refused); a date goes into a
// timestamp(tz) column as midnight; pgjdbc's 42::int4 into a bigint. Under
// America/New_York, across both DST changes, in both protocols, and in
// comparisons of a deterministic column.
func TestCastConstantsAsPostgreSQL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "castconst",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"reg", "timestamptz", "{mode: randomized, key: cast-pii, type: timestamptz}"},
		twinColumn{"seen", "timestamp", "{mode: randomized, key: cast-pii, type: timestamp}"},
		twinColumn{"mrn", "bigint", "{mode: deterministic, key: cast-mrn, type: bigint}"},
		twinColumn{"amount", "numeric(12,2)", `{mode: randomized, key: cast-pii, type: "numeric(12,2)"}`},
		twinColumn{"visits", "integer", "{mode: randomized, key: cast-pii, type: integer}"})
	tw.both(t, "SET TimeZone = 'America/New_York'")
	statements := []string{
		"INSERT INTO %s (id, reg, seen, mrn, amount, visits) VALUES (1, '2024-11-03T01:30:00'::timestamp, '2024-01-01'::date, 42::int4, 7::bigint, 3::int2)",
		"INSERT INTO %s (id, reg, seen, mrn, amount, visits) VALUES (2, '2024-03-10 02:30:00'::timestamp, '2024-03-10 02:30:00.5'::timestamp, '-7'::int2, CAST(-12 AS integer), '-1'::smallint)",
		"INSERT INTO %s (id, reg, seen, mrn, amount) VALUES (3, '2024-03-10'::date, DATE '2024-02-29', CAST('9000000000' AS bigint), 5::int2)",
		"INSERT INTO %s (id, reg) VALUES (4, timestamp '2024-07-04 12:00:00.123456')",
		"UPDATE %s SET reg = '2024-11-03 00:59:59.999999'::timestamp, visits = 8::int2 WHERE mrn = 42::int4",
		"UPDATE %s SET amount = 1::int2 WHERE mrn IN (9000000000::bigint, '-7'::int2)",
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, st := range statements {
			tw.exec(t, st, mode)
		}
		tw.same(t, "SELECT id, reg, seen, mrn, amount, visits FROM %s ORDER BY id", mode, "constants cast to a convertible type")
		tw.same(t, "SELECT id FROM %s WHERE mrn = 42::int4 OR mrn IN ('-7'::int2, 9000000000::bigint) ORDER BY id", mode, "compared with cast constants")
		var cell string
		if err := tw.dir.QueryRow(testContext(t), fmt.Sprintf("SELECT reg FROM %s WHERE id = 1", tw.enc)).Scan(&cell); err != nil || !keys.IsCell([]byte(cell)) {
			t.Fatalf("at rest: %d chars, %v", len(cell), err)
		}
	}
}
