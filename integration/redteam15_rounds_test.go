package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 15: statements in rounds (docs/search.md, "LIMIT through an
// order term"; proxy/protect_rounds.go).

// roundsAfterErrorScripts are extended-protocol exchanges in which a
// statement in rounds is executed after an error earlier in its segment
// (so the backend skips its Execute), each played on a fresh connection;
// sql is the statement's text for the side.
var roundsAfterErrorScripts = map[string]func(t *testing.T, c *portionConn, sql string){
	// The portal read in portions, bound again under its own name (42P03),
	// then executed twice before the Sync.
	"bound twice": func(t *testing.T, c *portionConn, sql string) {
		c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 1), bind("p", "s"), execute("p", 1), execute("p", 0), sync)
		c.exchange(t, untilReadyMsg, qry("SELECT 2"))
		c.exchange(t, untilReadyMsg, bind("p", "s"), execute("p", 0), sync)
	},
	// The error read by the client (a Flush) before it sends the Execute.
	"flushed error": func(t *testing.T, c *portionConn, sql string) {
		c.exchange(t, []string{"ErrorResponse"}, parse("s", sql), bind("p", "s"), bind("p", "s"), flush)
		c.exchange(t, untilReadyMsg, execute("p", 0), sync)
		c.exchange(t, untilReadyMsg, qry("SELECT 2"))
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), sync)
	},
	// A statement that fails at its Execute, then two portals in rounds,
	// pipelined behind one Sync, in a transaction block.
	"failed execute": func(t *testing.T, c *portionConn, sql string) {
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", 0), parse("", "SELECT 1/0"), bind("", ""), execute("", 0),
			bind("q", "s"), execute("q", 0), bind("r", "s"), execute("r", 2), sync)
		c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		c.exchange(t, untilReadyMsg, bind("q", "s"), execute("q", 3), execute("q", 0), sync)
	},
}

// TestRedTeam15RoundsAfterError: a statement in rounds whose Execute the
// backend skips after an error in its segment. phiguard holds the
// client's next messages back until a round's answer is in (the
// Flush-and-wait of awaitRounds), and the skipped Execute was never
// answered: the session hung with the client's Sync unsent (no
// ReadyForQuery, ever, and a backend held). The expectation queue now
// lets go of what the client sends after the error reached phiguard
// (expectQueue.skipping). The transcripts are PostgreSQL's over the
// plaintext twin, message by message, for plain, ordered and min rounds;
// a pgx batch whose first statement fails is answered with the error and
// the connection goes on.
func TestRedTeam15RoundsAfterError(t *testing.T) {
	t.Parallel()
	f := newPlainRoundsFixture(t, 300, 240)
	for _, sql := range []string{
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY id LIMIT 10",
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, id LIMIT 10 OFFSET 2",
		"SELECT min(name) FROM %s WHERE name NOT LIKE '%%Fail' AND name <> ''",
	} {
		for name, script := range roundsAfterErrorScripts {
			want := &portionConn{rawConn: dialRaw(t, directURL(appUser, appPassword, appDB))}
			got := &portionConn{rawConn: dialRaw(t, f.p.url(appUser, appPassword, appDB))}
			script(t, want, fmt.Sprintf(sql, f.plain))
			script(t, got, fmt.Sprintf(sql, f.enc))
			want.Conn.Close()
			got.Conn.Close()
			if countPrefix(want.lines, "DataRow") == 0 || countPrefix(want.lines, "ErrorResponse") == 0 {
				t.Fatalf("%s, %s: the script has no row or no error directly", sql, name)
			}
			t.Run(name+"/"+sql, func(t *testing.T) { diffTranscripts(t, want.lines, got.lines) })
		}
	}
	// A batch (pgx pipelines it behind one Sync) whose first statement
	// fails, then statements in rounds.
	counts := map[bool]int{}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		table := map[bool]string{true: f.plain, false: f.enc}[conn == f.dir]
		ctx, cancel := context.WithTimeout(testContext(t), 20*time.Second)
		b := &pgx.Batch{}
		b.Queue("SELECT 1/0")
		b.Queue(fmt.Sprintf("SELECT id FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY id LIMIT $1", table), 5)
		b.Queue(fmt.Sprintf("SELECT id FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY id DESC LIMIT $1", table), 5)
		err := conn.SendBatch(ctx, b).Close()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "22012" {
			t.Errorf("batch (direct %v): %v, want 22012", conn == f.dir, err)
		}
		var n int
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE name NOT LIKE '%%Fail'", table)).Scan(&n); err != nil || n == 0 {
			t.Errorf("after the batch (direct %v): %d, %v", conn == f.dir, n, err)
		}
		counts[conn == f.dir] = n
		cancel()
	}
	if counts[true] != counts[false] {
		t.Errorf("after the batch: %d rows through phiguard, %d directly", counts[false], counts[true])
	}
}

// TestRedTeam15RoundsPortions: statements in plain, ordered and
// unordered rounds that need further rounds, read in portions of 1 and 3
// rows and at once in each of portionScripts: the transcripts are
// PostgreSQL's over the plaintext twin, message by message (the
// unordered statement's scan order is the table's in both). Before red
// team 15 the pipelined script hung (the skipped Execute of
// TestRedTeam15RoundsAfterError) and an Execute of a closed portal was
// refused XX000 ("phiguard does not hold the Bind of this portal") where
// PostgreSQL answers 34000.
func TestRedTeam15RoundsPortions(t *testing.T) {
	t.Parallel()
	f := newPlainRoundsFixture(t, 300, 240)
	for _, sql := range []string{
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY id LIMIT 10",
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, id LIMIT 10 OFFSET 2",
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' LIMIT 10",
	} {
		for _, n := range []uint32{1, 3, 0} {
			for name, script := range portionScripts {
				want := &portionConn{rawConn: dialRaw(t, directURL(appUser, appPassword, appDB))}
				got := &portionConn{rawConn: dialRaw(t, f.p.url(appUser, appPassword, appDB))}
				script(t, want, fmt.Sprintf(sql, f.plain), n)
				script(t, got, fmt.Sprintf(sql, f.enc), n)
				want.Conn.Close()
				got.Conn.Close()
				if countPrefix(want.lines, "DataRow") == 0 {
					t.Fatalf("%s, %s, %d: no row directly", sql, name, n)
				}
				t.Run(fmt.Sprintf("%s/%d/%s", name, n, sql), func(t *testing.T) { diffTranscripts(t, want.lines, got.lines) })
			}
		}
	}
}
