package integration

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// A wire script is a list of steps: messages a client sends, and the
// backend message after which the client stops reading. Running the same
// script once against PostgreSQL and once through phiguard and comparing
// the two transcripts message by message is the strictest test of
// transparency there is: any message phiguard drops, adds, reorders,
// delays past a Flush or alters shows up as a difference.
type wireStep struct {
	send []pgproto3.FrontendMessage
	// until names the message type that ends this step's reading, such as
	// "ReadyForQuery" after a Sync or "PortalSuspended" after a Flush;
	// times is how many of them to read (0 means 1).
	until string
	times int
}

// rawConn is a connection authenticated by pgconn and then taken over, so
// that a test speaks the protocol message by message.
type rawConn struct {
	*pgconn.HijackedConn
}

func dialRaw(t testing.TB, connString string) *rawConn {
	t.Helper()
	ctx := testContext(t)
	pc, err := pgconn.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		t.Fatalf("hijack: %v", err)
	}
	t.Cleanup(func() { hc.Conn.Close() })
	return &rawConn{hc}
}

// send writes msgs as one batch.
func (c *rawConn) send(t testing.TB, msgs ...pgproto3.FrontendMessage) {
	t.Helper()
	for _, m := range msgs {
		c.Frontend.Send(m)
	}
	if err := c.Frontend.Flush(); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// receive reads one message and renders it as JSON, the only safe way to
// keep it past the next Receive.
func (c *rawConn) receive(t testing.TB, timeout time.Duration) (string, string) {
	t.Helper()
	msg, err := c.next(timeout)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("marshal %T: %v", msg, err)
	}
	typ := reflect.TypeOf(msg).Elem().Name()
	return typ, string(b)
}

// next reads one message, valid until the next call.
func (c *rawConn) next(timeout time.Duration) (pgproto3.BackendMessage, error) {
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.Conn.SetReadDeadline(time.Time{})
	return c.Frontend.Receive()
}

// expectClosedWith reads until the connection ends and requires a FATAL
// ErrorResponse with SQLSTATE code before the end, and nothing else but
// asynchronous messages.
func (c *rawConn) expectClosedWith(t testing.TB, code string, timeout time.Duration) {
	t.Helper()
	seen := false
	for {
		msg, err := c.next(timeout)
		if err != nil {
			if !seen {
				t.Fatalf("connection ended (%v) without an ErrorResponse %s", err, code)
			}
			return
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			if m.Code != code || m.Severity != "FATAL" {
				t.Fatalf("got %s %s %q, want FATAL %s", m.Severity, m.Code, m.Message, code)
			}
			seen = true
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
		default:
			t.Fatalf("unexpected %T while waiting for %s", msg, code)
		}
	}
}

// run plays a script and returns the transcript: one line per message
// received.
func (c *rawConn) run(t testing.TB, script []wireStep) []string {
	t.Helper()
	var out []string
	for i, st := range script {
		c.send(t, st.send...)
		for seen := 0; seen < max(st.times, 1); {
			typ, line := c.receive(t, 30*time.Second)
			out = append(out, typ+" "+line)
			if typ == st.until {
				seen++
			}
			if len(out) > 100000 {
				t.Fatalf("step %d: no %s after 100000 messages", i, st.until)
			}
		}
	}
	return out
}

// compareTranscripts runs script directly and through p and reports the
// first difference.
func compareTranscripts(t *testing.T, p *phiguard, script []wireStep) []string {
	t.Helper()
	want := dialRaw(t, directURL(appUser, appPassword, appDB)).run(t, script)
	got := dialRaw(t, p.url(appUser, appPassword, appDB)).run(t, script)
	diffTranscripts(t, want, got)
	return got
}

func diffTranscripts(t testing.TB, want, got []string) {
	t.Helper()
	for i := 0; i < min(len(want), len(got)); i++ {
		if want[i] != got[i] {
			t.Fatalf("message %d differs:\n  postgres: %s\n  phiguard: %s", i, clip(want[i]), clip(got[i]))
		}
	}
	if len(want) != len(got) {
		t.Fatalf("postgres sent %d messages, phiguard %d", len(want), len(got))
	}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// countType reports how many messages of a transcript are of type typ.
func countType(transcript []string, typ string) int {
	n := 0
	for _, l := range transcript {
		if strings.HasPrefix(l, typ+" ") {
			n++
		}
	}
	return n
}

// Shorthands for building scripts.
func qry(sql string) *pgproto3.Query { return &pgproto3.Query{String: sql} }

func parse(name, sql string, oids ...uint32) *pgproto3.Parse {
	return &pgproto3.Parse{Name: name, Query: sql, ParameterOIDs: oids}
}

func bind(portal, stmt string, params ...string) *pgproto3.Bind {
	b := &pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt}
	for _, p := range params {
		b.Parameters = append(b.Parameters, []byte(p))
	}
	return b
}

func execute(portal string, maxRows uint32) *pgproto3.Execute {
	return &pgproto3.Execute{Portal: portal, MaxRows: maxRows}
}

var (
	sync  = &pgproto3.Sync{}
	flush = &pgproto3.Flush{}
)

// untilReady sends msgs and reads one ReadyForQuery per Query and Sync.
func untilReady(msgs ...pgproto3.FrontendMessage) wireStep {
	n := 0
	for _, m := range msgs {
		switch m.(type) {
		case *pgproto3.Query, *pgproto3.Sync:
			n++
		}
	}
	return wireStep{send: msgs, until: "ReadyForQuery", times: n}
}

// TestWireTranscripts replays protocol scripts against PostgreSQL and
// through phiguard and requires identical answers, message by message.
func TestWireTranscripts(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})

	// A pipeline longer than phiguard's 16 KB buffers in both directions.
	var long []pgproto3.FrontendMessage
	for i := range 300 {
		long = append(long, parse("", "SELECT $1::int AS n, repeat('x', 200) AS pad"), bind("", "", fmt.Sprint(i)), execute("", 0))
	}
	long = append(long, sync)

	binaryBind := &pgproto3.Bind{
		PreparedStatement:    "bin",
		ParameterFormatCodes: []int16{1, 1},
		Parameters:           [][]byte{{0, 0, 0, 0, 0, 0, 0x30, 0x39}, {0xde, 0xad, 0xbe, 0xef}},
		ResultFormatCodes:    []int16{1, 0},
	}

	scripts := []struct {
		name   string
		script []wireStep
		check  func(t *testing.T, got []string)
	}{
		{"simple/multi-statement", []wireStep{
			untilReady(qry("SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; VALUES (1), (2), (3)")),
			untilReady(qry("CREATE TEMP TABLE tt (a int); INSERT INTO tt VALUES (1), (2); UPDATE tt SET a = a + 1; DELETE FROM tt WHERE a = 2; SELECT a + 0 AS a FROM tt")),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "CommandComplete"); n != 8 {
				t.Errorf("%d CommandComplete, want 8", n)
			}
		}},
		{"simple/error mid-string stops the rest", []wireStep{
			untilReady(qry("SELECT 1; SELECT 1/0; SELECT 3")),
			untilReady(qry("SELECT 4")),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "DataRow"); n != 2 {
				t.Errorf("%d DataRows, want 2 (SELECT 3 must not run)", n)
			}
		}},
		{"simple/empty and syntax error", []wireStep{
			untilReady(qry("")),
			untilReady(qry("-- only a comment")),
			untilReady(qry("SELEC 1")),
			untilReady(qry("SELECT 'still here'")),
		}, nil},
		{"simple/failed transaction", []wireStep{
			untilReady(qry("BEGIN")),
			untilReady(qry("SELECT 1/0")),
			untilReady(qry("SELECT 1")),
			untilReady(qry("ROLLBACK")),
			untilReady(qry("SELECT 2")),
		}, nil},
		{"extended/named and unnamed statements and portals", []wireStep{
			untilReady(
				parse("s1", "SELECT $1::int + $2::int AS sum"),
				&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
				bind("", "s1", "1", "2"),
				&pgproto3.Describe{ObjectType: 'P'},
				execute("", 0),
				parse("", "SELECT upper($1::text)"),
				bind("p2", "", "hi"),
				&pgproto3.Describe{ObjectType: 'P', Name: "p2"},
				execute("p2", 0),
				&pgproto3.Close{ObjectType: 'P', Name: "p2"},
				bind("", "s1", "20", "22"),
				execute("", 0),
				&pgproto3.Close{ObjectType: 'S', Name: "s1"},
				sync),
			untilReady(bind("", "s1", "1", "1"), execute("", 0), sync), // closed: 26000
			untilReady(parse("", "INSERT INTO nosuchtable VALUES (1)"), sync),
		}, nil},
		{"extended/binary parameters and results", []wireStep{
			untilReady(
				parse("bin", "SELECT $1::int8 * 2 AS doubled, $2::bytea AS raw"),
				binaryBind,
				&pgproto3.Describe{ObjectType: 'P'},
				execute("", 0),
				sync),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "DataRow"); n != 1 {
				t.Errorf("%d DataRows, want 1", n)
			}
		}},
		{"extended/row-limited portal with Flush", []wireStep{
			{send: []pgproto3.FrontendMessage{
				parse("", "SELECT g FROM generate_series(1, 10) g"),
				bind("cur", ""),
				execute("cur", 3),
				flush}, until: "PortalSuspended"},
			{send: []pgproto3.FrontendMessage{execute("cur", 3), flush}, until: "PortalSuspended"},
			untilReady(execute("cur", 0), sync),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "PortalSuspended"); n != 2 {
				t.Errorf("%d PortalSuspended, want 2", n)
			}
			if n := countType(got, "DataRow"); n != 10 {
				t.Errorf("%d DataRows, want 10", n)
			}
		}},
		{"extended/row-limited portal across Syncs in a transaction", []wireStep{
			untilReady(qry("BEGIN")),
			untilReady(parse("", "SELECT g FROM generate_series(1, 10) g"), bind("cur", ""), execute("cur", 4), sync),
			untilReady(execute("cur", 4), sync),
			untilReady(execute("cur", 4), sync),
			untilReady(qry("COMMIT")),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "DataRow"); n != 10 {
				t.Errorf("%d DataRows, want 10", n)
			}
		}},
		{"pipeline/error skips to Sync", []wireStep{
			untilReady(
				parse("", "SELECT 1"), bind("", ""), execute("", 0),
				parse("", "SELECT 1/0"), bind("", ""), execute("", 0),
				parse("", "SELECT 3"), bind("", ""), execute("", 0),
				sync,
				parse("", "SELECT 4"), bind("", ""), execute("", 0),
				sync),
			untilReady(parse("", "SELECT 5"), bind("", ""), execute("", 0), sync),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "DataRow"); n != 3 {
				t.Errorf("%d DataRows, want 3 (1, 4, 5)", n)
			}
			if n := countType(got, "ReadyForQuery"); n != 3 {
				t.Errorf("%d ReadyForQuery, want 3", n)
			}
			if n := countType(got, "ErrorResponse"); n != 1 {
				t.Errorf("%d ErrorResponse, want 1", n)
			}
		}},
		{"pipeline/syntax error in Parse", []wireStep{
			untilReady(parse("", "SELEC $1"), bind("", "", "x"), execute("", 0), sync),
			untilReady(parse("", "SELECT 'after'"), bind("", ""), execute("", 0), sync),
		}, nil},
		{"pipeline/300 statements before one Sync", []wireStep{untilReady(long...)},
			func(t *testing.T, got []string) {
				if n := countType(got, "DataRow"); n != 300 {
					t.Errorf("%d DataRows, want 300", n)
				}
			}},
		{"copy/in, out and fail with the simple protocol", []wireStep{
			untilReady(qry("CREATE TEMP TABLE c (a int, b text)")),
			{send: []pgproto3.FrontendMessage{qry("COPY c FROM STDIN")}, until: "CopyInResponse"},
			untilReady(&pgproto3.CopyData{Data: []byte("1\tone\n2\ttwo\n")}, &pgproto3.CopyData{Data: []byte("3\t\\N\n")}, &pgproto3.CopyDone{}),
			untilReady(qry("COPY c TO STDOUT")),
			{send: []pgproto3.FrontendMessage{qry("COPY c FROM STDIN")}, until: "CopyInResponse"},
			untilReady(&pgproto3.CopyData{Data: []byte("4\tfour\n")}, &pgproto3.CopyFail{Message: "client gave up"}),
			{send: []pgproto3.FrontendMessage{qry("COPY c FROM STDIN (FORMAT csv)")}, until: "CopyInResponse"},
			untilReady(&pgproto3.CopyData{Data: []byte("not a number,x\n")}, &pgproto3.CopyDone{}),
			untilReady(qry("SELECT count(*) FROM c")),
		}, nil},
		{"copy/in with the extended protocol", []wireStep{
			untilReady(qry("CREATE TEMP TABLE c (a int)")),
			{send: []pgproto3.FrontendMessage{parse("", "COPY c FROM STDIN"), bind("", ""), execute("", 0), flush}, until: "CopyInResponse"},
			untilReady(&pgproto3.CopyData{Data: []byte("7\n8\n")}, &pgproto3.CopyDone{}, sync),
			untilReady(parse("", "COPY c TO STDOUT (FORMAT csv)"), bind("", ""), execute("", 0), sync),
		}, nil},
		{"async/notice and parameter status", []wireStep{
			untilReady(qry("DO $$BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END$$")),
			untilReady(qry("SET application_name = 'wire script'")),
			untilReady(qry("SET TimeZone = 'Asia/Kolkata'; SELECT '2024-01-01 00:00:00+00'::timestamptz::text")),
		}, func(t *testing.T, got []string) {
			if n := countType(got, "NoticeResponse"); n != 2 {
				t.Errorf("%d NoticeResponse, want 2", n)
			}
			if n := countType(got, "ParameterStatus"); n != 2 {
				t.Errorf("%d ParameterStatus, want 2", n)
			}
		}},
	}
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			got := compareTranscripts(t, p, sc.script)
			if sc.check != nil {
				sc.check(t, got)
			}
		})
	}
}
