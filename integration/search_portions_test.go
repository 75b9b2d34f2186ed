package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
)

// Portals phiguard sorts, filters, de-duplicates, groups or aggregates,
// read in portions (Execute with a row limit): the same wire transcript
// as PostgreSQL's over the plaintext tables, message by message.

// portionConn speaks the protocol to one side of the sort fixture.
type portionConn struct {
	*rawConn
	lines []string
}

// exchange sends msgs and reads, normalized, until a message of one of
// the types in until.
func (c *portionConn) exchange(t *testing.T, until []string, msgs ...pgproto3.FrontendMessage) string {
	t.Helper()
	c.send(t, msgs...)
	for {
		msg, err := c.next(30 * time.Second)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		typ, line := normalizedMessage(msg)
		if line != "" {
			c.lines = append(c.lines, line)
		}
		if slices.Contains(until, typ) {
			return typ
		}
		if len(c.lines) > 100000 {
			t.Fatalf("no %v after 100000 messages", until)
		}
	}
}

// normalizedMessage is a message as both sides must send it: a
// RowDescription's field names and types (not the table's OID), an
// error's SQLSTATE (its text names the table); "" for asynchronous ones.
func normalizedMessage(msg pgproto3.BackendMessage) (string, string) {
	typ := fmt.Sprintf("%T", msg)[len("*pgproto3."):]
	switch m := msg.(type) {
	case *pgproto3.ParameterStatus, *pgproto3.NoticeResponse:
		return typ, ""
	case *pgproto3.RowDescription:
		var b strings.Builder
		b.WriteString(typ)
		for _, f := range m.Fields {
			fmt.Fprintf(&b, " %s:%d:%d", f.Name, f.DataTypeOID, f.Format)
		}
		return typ, b.String()
	case *pgproto3.ErrorResponse:
		return typ, typ + " " + m.Code
	case *pgproto3.DataRow:
		var b strings.Builder
		b.WriteString(typ)
		for _, v := range m.Values {
			if v == nil {
				b.WriteString(" <NULL>")
				continue
			}
			fmt.Fprintf(&b, " %q", v)
		}
		return typ, b.String()
	case *pgproto3.CommandComplete:
		return typ, typ + " " + string(m.CommandTag)
	case *pgproto3.ReadyForQuery:
		return typ, fmt.Sprintf("%s %c", typ, m.TxStatus)
	}
	return typ, typ
}

var (
	untilPortionEnd = []string{"PortalSuspended", "CommandComplete", "ErrorResponse"}
	untilReadyMsg   = []string{"ReadyForQuery"}
)

// readInPortions executes portal n rows at a time, each Execute with a
// Flush, until one is not suspended, and once more after that.
func (c *portionConn) readInPortions(t *testing.T, portal string, n uint32) {
	t.Helper()
	for i := 0; ; i++ {
		if c.exchange(t, untilPortionEnd, execute(portal, n), flush) != "PortalSuspended" || i > 1000 {
			break
		}
	}
	c.exchange(t, untilPortionEnd, execute(portal, n), flush) // a portal run to its end: SELECT 0
}

// portionScripts are the ways a client reads a portal in portions; each
// plays on a fresh connection.
var portionScripts = map[string]func(t *testing.T, c *portionConn, sql string, n uint32){
	// The unnamed portal outside a transaction block: gone at Sync.
	"unnamed": func(t *testing.T, c *portionConn, sql string, n uint32) {
		c.exchange(t, []string{"BindComplete"}, parse("", sql), bind("", ""), flush)
		c.readInPortions(t, "", n)
		c.exchange(t, untilReadyMsg, sync)
		c.exchange(t, untilReadyMsg, execute("", n), sync) // 34000: no such portal
	},
	// A named portal in a transaction block, across Syncs, described
	// mid-way, until COMMIT.
	"transaction": func(t *testing.T, c *portionConn, sql string, n uint32) {
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), describePortal("p"), execute("p", n), sync)
		c.exchange(t, untilReadyMsg, describePortal("p"), execute("p", n), sync)
		c.readInPortions(t, "p", n)
		c.exchange(t, untilReadyMsg, sync)
		c.exchange(t, untilReadyMsg, qry("COMMIT"))
		c.exchange(t, untilReadyMsg, execute("p", n), sync) // 34000: gone with the transaction
	},
	// Every Execute pipelined behind one Sync, another statement's
	// Execute between them, the portal bound again after its end.
	"pipelined": func(t *testing.T, c *portionConn, sql string, n uint32) {
		msgs := []pgproto3.FrontendMessage{parse("s", sql), bind("p", "s"), parse("", "SELECT 1"), bind("q", "")}
		for i := range 6 {
			msgs = append(msgs, execute("p", n))
			if i == 2 {
				msgs = append(msgs, execute("q", 0))
			}
		}
		msgs = append(msgs, bind("p", "s"), execute("p", n), execute("p", 0), sync)
		c.exchange(t, untilReadyMsg, msgs...)
	},
	// An error after a portion, rolled back to a savepoint taken after
	// the Bind: the portal lives on, and is read to its end.
	"savepoint": func(t *testing.T, c *portionConn, sql string, n uint32) {
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", n), sync)
		c.exchange(t, untilReadyMsg, qry("SAVEPOINT a"))
		c.exchange(t, untilReadyMsg, qry("SELECT 1/0"))
		c.exchange(t, untilReadyMsg, execute("p", n), sync) // 25P02
		c.exchange(t, untilReadyMsg, qry("ROLLBACK TO a"))
		c.readInPortions(t, "p", n)
		c.exchange(t, untilReadyMsg, sync)
		c.exchange(t, untilReadyMsg, qry("COMMIT"))
	},
	// The portal closed before its end, an error after a portion.
	"closed": func(t *testing.T, c *portionConn, sql string, n uint32) {
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, parse("s", sql), bind("p", "s"), execute("p", n), &pgproto3.Close{ObjectType: 'P', Name: "p"}, execute("p", n), sync)
		c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, bind("p", "s"), execute("p", n), parse("", "SELECT 1/0"), bind("", ""), execute("", 0), execute("p", n), sync)
		c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
	},
}

func describePortal(name string) *pgproto3.Describe {
	return &pgproto3.Describe{ObjectType: 'P', Name: name}
}

// TestPortionsEncryptedDifferential reads statements phiguard evaluates
// itself (ORDER BY, WHERE, DISTINCT, an aggregate, GROUP BY with ORDER
// BY, LIMIT and OFFSET) in portions of 1, 2, 7 rows, exactly the result's
// rows, more, and all at once, in each of portionScripts, directly on
// the plaintext tables and through phiguard on the encrypted ones: the
// transcripts must be the same, message by message.
func TestPortionsEncryptedDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	statements := []string{
		`SELECT id, name, born FROM %[1]s ORDER BY name, id`,
		`SELECT id, name, score FROM %[1]s WHERE name >= 'S' ORDER BY id`,
		`SELECT DISTINCT name FROM %[1]s ORDER BY name`,
		`SELECT count(*), min(name), max(born) FROM %[1]s`,
		`SELECT id, name FROM %[1]s ORDER BY name DESC, id LIMIT 17 OFFSET 3`,
		`SELECT id FROM %[1]s WHERE born < '1900-01-01' ORDER BY born`,
		`SELECT name, count(*) FROM %[1]s GROUP BY name ORDER BY count(*) DESC, name`,
	}
	compared := 0
	for _, sql := range statements {
		var rows uint32
		if err := f.dir.QueryRow(testContext(t), "SELECT count(*) FROM ("+f.sql(sql, 0)+") s").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		var sizes []uint32
		for _, n := range []uint32{1, 2, 7, rows, rows + 1, 0} {
			if !slices.Contains(sizes, n) {
				sizes = append(sizes, n)
			}
		}
		for _, n := range sizes {
			for name, script := range portionScripts {
				want := &portionConn{rawConn: dialRaw(t, directURL(appUser, appPassword, appDB))}
				got := &portionConn{rawConn: dialRaw(t, f.p.url(appUser, appPassword, appDB))}
				script(t, want, f.sql(sql, 0), n)
				script(t, got, f.sql(sql, 1), n)
				want.Conn.Close()
				got.Conn.Close()
				if countPrefix(want.lines, "DataRow") < int(min(rows, 1)) {
					t.Fatalf("%s, %s, %d: no row directly", sql, name, n)
				}
				t.Run(fmt.Sprintf("%s/%d/%d", name, n, slices.Index(statements, sql)), func(t *testing.T) {
					diffTranscripts(t, want.lines, got.lines)
				})
				compared++
			}
		}
	}
	t.Logf("%d transcripts compared", compared)
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestPortionsEncryptedAuditAndCap: each Execute of a portal read in
// portions has its record, of the rows it served and their subjects,
// with the sort key among the columns read; what portals keep for their
// next Executes counts against limits.proxy_sort_rows, and is let go
// with the portal.
func TestPortionsEncryptedAuditAndCap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("portionaudit")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (id int PRIMARY KEY, name text); GRANT ALL ON %[1]s TO %[2]s", table, appUser)); err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	key := audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{7}, 32))}
	a, err := audit.New(audit.Options{Key: key, Sink: audit.NewWriterSink(&sink)})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{auditor: a, quiet: true, configure: func(c *config.Config) { c.Limits.ProxySortRows = 20 }, protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    subject_column: id
    columns:
      name: {mode: randomized, key: portionaudit-pii, type: text}
`, table))})
	var values []string
	for g := 1; g <= 15; g++ {
		values = append(values, fmt.Sprintf("(%d, '%c')", 40+g, 'a'+(g*7)%15))
	}
	if _, err := p.app(t).Exec(ctx, "INSERT INTO "+table+" (id, name) VALUES "+strings.Join(values, ", ")); err != nil {
		t.Fatal(err)
	}
	c := &portionConn{rawConn: dialRaw(t, p.url(appUser, appPassword, appDB))}
	sorted := "SELECT id FROM " + table + " ORDER BY name"
	c.exchange(t, []string{"BindComplete"}, parse("", sorted+" LIMIT 5"), bind("", ""), flush)
	c.readInPortions(t, "", 2) // 2, 2, 1, then SELECT 0
	c.exchange(t, untilReadyMsg, sync)

	// Two portals: 15 rows held, then 13 kept and 15 more held.
	c.lines = nil
	c.exchange(t, untilReadyMsg, qry("BEGIN"))
	c.exchange(t, untilReadyMsg, parse("s", sorted), bind("p", "s"), execute("p", 2), bind("q", "s"), execute("q", 2), sync)
	if got := strings.Join(c.lines, "\n"); !strings.Contains(got, "ErrorResponse 54000") || countPrefix(c.lines, "DataRow") != 2 {
		t.Fatalf("two portals past the cap:\n%s", got)
	}
	c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
	// A portal whose result phiguard failed cannot run again, as
	// PostgreSQL answers a portal whose run failed; the other goes on.
	c.lines = nil
	c.exchange(t, untilReadyMsg, qry("BEGIN"))
	c.exchange(t, untilReadyMsg, bind("p", "s"), bind("q", "s"), sync)
	c.exchange(t, untilReadyMsg, qry("SAVEPOINT a"))
	c.exchange(t, untilReadyMsg, execute("p", 2), execute("q", 2), sync)
	c.exchange(t, untilReadyMsg, qry("ROLLBACK TO a"))
	c.exchange(t, untilReadyMsg, execute("q", 2), sync)
	c.exchange(t, untilReadyMsg, qry("ROLLBACK TO a"))
	c.exchange(t, untilReadyMsg, execute("p", 2), sync)
	c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
	if got := strings.Join(c.lines, "\n"); countPrefix(c.lines, "ErrorResponse 54000") != 1 || countPrefix(c.lines, "ErrorResponse 55000") != 1 ||
		countPrefix(c.lines, "DataRow") != 4 || countPrefix(c.lines, "PortalSuspended") != 2 {
		t.Fatalf("a failed portal after ROLLBACK TO SAVEPOINT:\n%s", got)
	}
	c.lines = nil
	c.exchange(t, untilReadyMsg, qry("BEGIN"))
	c.exchange(t, untilReadyMsg, bind("p", "s"), execute("p", 2), &pgproto3.Close{ObjectType: 'P', Name: "p"}, bind("q", "s"), execute("q", 2), sync)
	c.exchange(t, untilReadyMsg, qry("COMMIT"))
	if got := strings.Join(c.lines, "\n"); strings.Contains(got, "ErrorResponse") || countPrefix(c.lines, "DataRow") != 4 {
		t.Fatalf("the second portal after the first's Close:\n%s", got)
	}
	c.Conn.Close()
	time.Sleep(200 * time.Millisecond) // the session's end reaches the auditor
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	type record struct {
		Event    string   `json:"event"`
		Read     []string `json:"read"`
		Rows     int64    `json:"rows"`
		SQL      string   `json:"sql"`
		Subjects []struct {
			IDs []string `json:"ids"`
		} `json:"subjects"`
	}
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(sink.Bytes()))
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Event != "statement" || !strings.Contains(sc.Text(), "LIMIT") {
			continue
		}
		var ids []string
		for _, s := range r.Subjects {
			ids = append(ids, s.IDs...)
		}
		slices.Sort(ids)
		got = append(got, fmt.Sprintf("%d %v %v", r.Rows, ids, slices.Contains(r.Read, "public."+table+".name")))
	}
	// The name of id 40+g is 'a' + (g*7)%15: by name, ids 55, 53, 51, 49, 47.
	want := []string{"2 [53 55] true", "2 [49 51] true", "1 [47] true", "0 [] true"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records of the Executes:\n%s\nwant\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), sink.String())
	}
}

// TestPortionsEncryptedLatency logs what reading a sorted result in
// portions costs: 2,000 rows ordered by an encrypted name, read whole and
// 100 rows at a time, directly on the plaintext table and through
// phiguard (median of 5; time to the first row and to the last). The
// rows must be the same; the times are reported, not asserted (a shared
// machine).
func TestPortionsEncryptedLatency(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 2000, nil)
	const sql = `SELECT id, name, born FROM %[1]s ORDER BY name, id`
	measure := func(url, table string, n uint32) (first, total time.Duration, lines []string) {
		var firsts, totals []time.Duration
		for range 5 {
			c := &portionConn{rawConn: dialRaw(t, url)}
			c.exchange(t, untilReadyMsg, parse("s", fmt.Sprintf(sql, table)), sync)
			start := time.Now()
			c.exchange(t, []string{"BindComplete"}, bind("", "s"), flush)
			c.exchange(t, []string{"DataRow", "CommandComplete"}, execute("", n), flush)
			firsts = append(firsts, time.Since(start))
			if last := c.lines[len(c.lines)-1]; strings.HasPrefix(last, "DataRow") {
				c.exchange(t, untilPortionEnd[:2], flush)
			}
			if n > 0 {
				c.readInPortions(t, "", n)
			}
			c.exchange(t, untilReadyMsg, sync)
			totals = append(totals, time.Since(start))
			lines = c.lines
			c.Conn.Close()
		}
		slices.Sort(firsts)
		slices.Sort(totals)
		return firsts[2], totals[2], lines
	}
	var report strings.Builder
	for _, n := range []uint32{0, 100} {
		df, dt, want := measure(directURL(appUser, appPassword, appDB), f.people[0], n)
		pf, pt, got := measure(f.p.url(appUser, appPassword, appDB), f.people[1], n)
		diffTranscripts(t, want, got)
		if countPrefix(got, "DataRow") != 2000 {
			t.Fatalf("portions of %d: %d rows", n, countPrefix(got, "DataRow"))
		}
		fmt.Fprintf(&report, "\n  portions of %3d: directly first row %v, all %v; through phiguard first row %v, all %v",
			n, df.Round(10*time.Microsecond), dt.Round(10*time.Microsecond), pf.Round(10*time.Microsecond), pt.Round(10*time.Microsecond))
	}
	t.Logf("2,000 rows ORDER BY an encrypted name, median of 5:%s", report.String())
}
