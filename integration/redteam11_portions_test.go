package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRedTeam11PortionsGoneInSQL: a portal phiguard read in portions
// holds the rest of its rows in the proxy until its Close, a Bind of its
// name or the end of its transaction. PostgreSQL also drops a portal by
// SQL: CLOSE ALL or CLOSE name in the same transaction, and ROLLBACK TO a
// savepoint taken before its Bind. phiguard must then answer the next
// Execute as PostgreSQL does (34000), not from the rows it holds.
func TestRedTeam11PortionsGoneInSQL(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	sql := `SELECT id, name, born FROM %[1]s ORDER BY name, id`
	scripts := map[string]func(t *testing.T, c *portionConn, sql string){
		"close all": func(t *testing.T, c *portionConn, sql string) {
			c.exchange(t, untilReadyMsg, qry("BEGIN"))
			c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("CLOSE ALL"))
			c.exchange(t, untilReadyMsg, execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		},
		"close name": func(t *testing.T, c *portionConn, sql string) {
			c.exchange(t, untilReadyMsg, qry("BEGIN"))
			c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("CLOSE p"))
			c.exchange(t, untilReadyMsg, execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		},
		"close in pipeline": func(t *testing.T, c *portionConn, sql string) {
			c.exchange(t, untilReadyMsg, qry("BEGIN"))
			c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 3),
				parse("", "CLOSE ALL"), bind("", ""), execute("", 0), execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		},
		"rollback to": func(t *testing.T, c *portionConn, sql string) {
			c.exchange(t, untilReadyMsg, qry("BEGIN; SAVEPOINT a"))
			c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("ROLLBACK TO a"))
			c.exchange(t, untilReadyMsg, execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		},
		"release after rollback": func(t *testing.T, c *portionConn, sql string) {
			c.exchange(t, untilReadyMsg, qry("BEGIN; SAVEPOINT a"))
			c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("SAVEPOINT b; ROLLBACK TO a; RELEASE a"))
			c.exchange(t, untilReadyMsg, execute("p", 3), sync)
			c.exchange(t, untilReadyMsg, qry("COMMIT"))
		},
	}
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			want := &portionConn{rawConn: dialRaw(t, directURL(appUser, appPassword, appDB))}
			got := &portionConn{rawConn: dialRaw(t, f.p.url(appUser, appPassword, appDB))}
			defer want.Conn.Close()
			defer got.Conn.Close()
			script(t, want, fmt.Sprintf(sql, f.people[0]))
			script(t, got, fmt.Sprintf(sql, f.people[1]))
			if !slices.Contains(want.lines, "ErrorResponse 34000") || countPrefix(want.lines, "DataRow") != 3 {
				t.Fatalf("directly, not 3 rows then 34000:\n%s", strings.Join(want.lines, "\n"))
			}
			diffTranscripts(t, want.lines, got.lines)
		})
	}
}
