package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

func TestSimpleProtocol(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t, "default_query_exec_mode", "simple_protocol")
	table := uniqueName("simple")

	// Several statements in one Query message, as one implicit transaction.
	tag, err := conn.Exec(ctx, fmt.Sprintf(`
		CREATE TABLE %[1]s (id int PRIMARY KEY, name text);
		INSERT INTO %[1]s VALUES (1, 'one'), (2, 'two'), (3, 'three');
		UPDATE %[1]s SET name = upper(name) WHERE id > 1;
		DELETE FROM %[1]s WHERE id = 3`, table))
	if err != nil {
		t.Fatalf("multi-statement Exec: %v", err)
	}
	if tag.String() != "DELETE 1" {
		t.Errorf("command tag = %q, want the last statement's, DELETE 1", tag)
	}
	// pgx interpolates arguments client-side in simple mode.
	var name string
	if err := conn.QueryRow(ctx, "SELECT name FROM "+table+" WHERE id = $1", 2).Scan(&name); err != nil || name != "TWO" {
		t.Fatalf("name = %q, %v; want TWO", name, err)
	}

	// An error part-way through rolls the whole string back.
	_, err = conn.Exec(ctx, fmt.Sprintf("INSERT INTO %[1]s VALUES (10, 'ten'); INSERT INTO %[1]s VALUES (1, 'dup')", table))
	wantPgError(t, err, "23505")
	if n := queryInt(t, conn, "SELECT count(*) FROM "+table); n != 2 {
		t.Errorf("%d rows after the failed string, want 2 (the implicit transaction must roll back)", n)
	}

	// Every result of a multi-statement string, compared with PostgreSQL's.
	multi := fmt.Sprintf("SELECT id, name FROM %[1]s ORDER BY id; SELECT 1/0; SELECT 'not reached'", table)
	got := readAll(t, conn.PgConn(), multi)
	want := readAll(t, direct(t).PgConn(), multi)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("through phiguard:\n%v\nPostgreSQL:\n%v", got, want)
	}
}

// readAll renders every result of a simple-protocol string.
func readAll(t testing.TB, conn *pgconn.PgConn, sql string) []string {
	t.Helper()
	results, err := conn.Exec(testContext(t), sql).ReadAll()
	var out []string
	for _, r := range results {
		out = append(out, fmt.Sprintf("tag=%q rows=%q err=%v", r.CommandTag, r.Rows, r.Err))
	}
	return append(out, fmt.Sprintf("err=%v", err))
}

func TestExtendedProtocol(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t)

	// Named statements.
	sd, err := conn.Prepare(ctx, "double", "SELECT $1::int8 * 2, $2::text || '!'")
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if len(sd.ParamOIDs) != 2 || len(sd.Fields) != 2 {
		t.Fatalf("statement description: %d params, %d fields", len(sd.ParamOIDs), len(sd.Fields))
	}
	for i := range 3 {
		var n int64
		var s string
		if err := conn.QueryRow(ctx, "double", i, "hi").Scan(&n, &s); err != nil {
			t.Fatalf("execute named statement: %v", err)
		}
		if n != int64(2*i) || s != "hi!" {
			t.Fatalf("got %d, %q", n, s)
		}
	}
	if err := conn.Deallocate(ctx, "double"); err != nil {
		t.Fatalf("Deallocate: %v", err)
	}
	if _, err := conn.PgConn().ExecPrepared(ctx, "double", nil, nil, nil).Close(); err == nil {
		t.Fatal("a deallocated statement still ran")
	} else {
		wantPgError(t, err, "26000")
	}

	// Unnamed statements in every pgx mode that uses them.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec} {
		var sum int64
		var ts time.Time
		if err := conn.QueryRow(ctx, "SELECT $1::int8 + $2::int8, $3::timestamptz", mode, int64(40), int64(2), time.Unix(1700000000, 0)).Scan(&sum, &ts); err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		if sum != 42 || !ts.Equal(time.Unix(1700000000, 0)) {
			t.Fatalf("mode %v: got %d, %v", mode, sum, ts)
		}
	}

	// A statement-level error leaves the session usable.
	_, err = conn.Exec(ctx, "SELECT * FROM no_such_table WHERE id = $1", 1)
	wantPgError(t, err, "42P01")
	if n := queryInt(t, conn, "SELECT $1::int", 7); n != 7 {
		t.Fatalf("after error: %d", n)
	}
}

// typesQuery covers the encodings clients get wrong most often; its
// results must reach the client byte for byte as PostgreSQL sent them.
const typesQuery = `SELECT
	9223372036854775807::int8 AS i8, '-2147483648'::int4 AS i4, 32767::int2 AS i2,
	12345678901234567890.123456789::numeric AS num, 'NaN'::numeric AS nan, 1e-30::numeric AS tiny,
	1.5::float8 AS f8, '-Infinity'::float4 AS f4,
	'2024-02-29 13:14:15.123456+05:30'::timestamptz AS tstz, '2024-02-29 13:14:15'::timestamp AS ts,
	'2024-02-29'::date AS d, '1 year 2 mons 3 days 04:05:06.7'::interval AS iv, '13:14:15'::time AS tm,
	'\xdeadbeef00ff'::bytea AS b, ARRAY[1, NULL, 3]::int4[] AS arr, ARRAY[['a', 'b'], ['c', NULL]]::text[] AS arr2,
	'{"a": [1, 2.5, null], "b": "x"}'::json AS j, '{"b": 1, "a": [true]}'::jsonb AS jb,
	'héllo ☃ ''quoted'''::text AS t, NULL::text AS n, true AS bo,
	'550e8400-e29b-41d4-a716-446655440000'::uuid AS u, '192.168.0.1/24'::inet AS ip,
	point(1, 2) AS pt, '[1,10)'::int4range AS r, 'a b c'::tsvector AS tsv, $1::text AS param`

func TestResultFormatsMatchDirect(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	viaProxy := p.app(t).PgConn()
	viaPG := direct(t).PgConn()

	for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
		run := func(conn *pgconn.PgConn) *pgconn.Result {
			r := conn.ExecParams(ctx, typesQuery, [][]byte{[]byte("p")}, nil, nil, []int16{format}).Read()
			if r.Err != nil {
				t.Fatalf("format %d: %v", format, r.Err)
			}
			return r
		}
		got, want := run(viaProxy), run(viaPG)
		if !reflect.DeepEqual(got.FieldDescriptions, want.FieldDescriptions) {
			t.Errorf("format %d: field descriptions differ:\n%v\n%v", format, got.FieldDescriptions, want.FieldDescriptions)
		}
		if !reflect.DeepEqual(got.Rows, want.Rows) {
			t.Errorf("format %d: rows differ:\n%q\n%q", format, got.Rows, want.Rows)
		}
		if len(got.Rows) != 1 || len(got.Rows[0]) != len(got.FieldDescriptions) {
			t.Fatalf("format %d: %d rows", format, len(got.Rows))
		}
	}

	// The same through pgx's type system, which picks binary for types it
	// knows and text for the rest.
	scan := func(conn *pgx.Conn) []any {
		rows, err := conn.Query(ctx, typesQuery, "p")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if !rows.Next() {
			t.Fatalf("no row: %v", rows.Err())
		}
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	got, want := scan(p.app(t)), scan(direct(t))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded values differ:\n%#v\n%#v", got, want)
	}
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t)
	table := uniqueName("batch")
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}

	t.Run("pgx batch", func(t *testing.T) {
		b := &pgx.Batch{}
		for i := range 500 {
			b.Queue("INSERT INTO "+table+" VALUES ($1, $2)", i, fmt.Sprintf("v%03d", i))
		}
		b.Queue("SELECT count(*), max(v) FROM " + table)
		br := conn.SendBatch(ctx, b)
		for i := range 500 {
			if _, err := br.Exec(); err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
		var n int64
		var maxV string
		if err := br.QueryRow().Scan(&n, &maxV); err != nil || n != 500 || maxV != "v499" {
			t.Fatalf("count = %d, max = %q, %v", n, maxV, err)
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pgx batch with an error", func(t *testing.T) {
		b := &pgx.Batch{}
		b.Queue("SELECT 1")
		b.Queue("INSERT INTO "+table+" VALUES ($1, 'dup')", 1)
		b.Queue("SELECT 3")
		br := conn.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			t.Fatalf("first: %v", err)
		}
		_, err := br.Exec()
		wantPgError(t, err, "23505")
		if _, err := br.Exec(); err == nil {
			t.Fatal("the statement after the error ran; it must be skipped up to Sync")
		}
		br.Close()
		if n := queryInt(t, conn, "SELECT count(*) FROM "+table); n != 500 {
			t.Fatalf("after the failed batch: %d rows, want 500", n)
		}
	})

	t.Run("pgconn pipeline mode", func(t *testing.T) {
		pl := conn.PgConn().StartPipeline(ctx)
		pl.SendPrepare("get", "SELECT v FROM "+table+" WHERE id = $1", nil)
		for i := range 200 {
			pl.SendQueryPrepared("get", [][]byte{[]byte(fmt.Sprint(i))}, nil, nil)
		}
		pl.SendQueryParams("SELECT $1::text", [][]byte{[]byte("end")}, nil, nil, nil)
		if err := pl.Sync(); err != nil {
			t.Fatal(err)
		}
		if _, err := pl.GetResults(); err != nil { // the Prepare
			t.Fatal(err)
		}
		for i := range 201 {
			res, err := pl.GetResults()
			if err != nil {
				t.Fatalf("result %d: %v", i, err)
			}
			r := res.(*pgconn.ResultReader).Read()
			want := fmt.Sprintf("v%03d", i)
			if i == 200 {
				want = "end"
			}
			if r.Err != nil || len(r.Rows) != 1 || string(r.Rows[0][0]) != want {
				t.Fatalf("result %d: %q, %v; want %s", i, r.Rows, r.Err, want)
			}
		}
		if res, err := pl.GetResults(); err != nil {
			t.Fatal(err)
		} else if _, ok := res.(*pgconn.PipelineSync); !ok {
			t.Fatalf("got %T, want the PipelineSync", res)
		}
		if err := pl.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	cfg := cancelSleep(t, p)

	// A cancel request with a wrong key cancels nothing.
	other := connectConfig(t, cfg)
	busy := make(chan error, 1)
	go func() {
		_, err := other.Exec(testContext(t), "SELECT pg_sleep(1)")
		busy <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := sendCancel(t, p, other.PgConn().PID(), []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := <-busy; err != nil {
		t.Errorf("a cancel request with a wrong secret interrupted the query: %v", err)
	}
	if got := p.metric(t, "phiguard_proxy_cancel_requests_total", "outcome", "unknown_key"); got != 1 {
		t.Errorf("unknown_key cancel requests = %v, want 1", got)
	}
}

// cancelSleep cancels a running pg_sleep(30) through p by context
// cancellation and checks that it ends quickly with 57014 and leaves the
// connection usable. It returns the client configuration it used.
func cancelSleep(t *testing.T, p *phiguard) *pgx.ConnConfig {
	t.Helper()
	cfg := parseConfig(t, p.url(appUser, appPassword, appDB))
	// Cancel with a CancelRequest right away, as libpq's PQcancel does,
	// rather than pgx's default of closing the connection.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 20 * time.Second}
	}
	conn := connectConfig(t, cfg)

	ctx, cancel := context.WithTimeout(testContext(t), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := conn.Exec(ctx, "SELECT pg_sleep(30)")
	elapsed := time.Since(start)
	wantPgError(t, err, "57014")
	if elapsed > 5*time.Second {
		t.Errorf("cancel took %s", elapsed)
	}
	if n := queryInt(t, conn, "SELECT 1"); n != 1 {
		t.Fatal("connection unusable after cancel")
	}
	if got := p.metric(t, "phiguard_proxy_cancel_requests_total", "outcome", "forwarded"); got != 1 {
		t.Errorf("forwarded cancel requests = %v, want 1", got)
	}
	return cfg
}

// sendCancel sends a raw CancelRequest to phiguard and waits until phiguard
// has closed the connection, which it does after handling it.
func sendCancel(t testing.TB, p *phiguard, pid uint32, secret []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(testContext(t), "tcp", p.addr.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	pkt := make([]byte, 12+len(secret))
	binary.BigEndian.PutUint32(pkt[0:], uint32(len(pkt)))
	binary.BigEndian.PutUint32(pkt[4:], 80877102) // CancelRequest code
	binary.BigEndian.PutUint32(pkt[8:], pid)
	copy(pkt[12:], secret)
	if _, err := conn.Write(pkt); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if n, err := conn.Read(b[:]); n != 0 || err == nil {
		return fmt.Errorf("phiguard answered a CancelRequest with data (n=%d, err=%v)", n, err)
	}
	return nil
}

func TestListenNotify(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	listener := p.app(t)
	notifier := p.app(t)
	channel := uniqueName("chan")

	if _, err := listener.Exec(ctx, "LISTEN "+channel); err != nil {
		t.Fatal(err)
	}
	if _, err := notifier.Exec(ctx, "SELECT pg_notify($1, $2)", channel, "payload ☃"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	if n.Channel != channel || n.Payload != "payload ☃" {
		t.Errorf("notification = %+v", n)
	}
	// A notification sent while the listener is idle must arrive without
	// the listener sending anything (phiguard must flush it at once).
	sent := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := notifier.Exec(ctx, "NOTIFY "+channel+", 'second'")
		sent <- err
	}()
	n, err = listener.WaitForNotification(wctx)
	if err := <-sent; err != nil {
		t.Fatalf("NOTIFY: %v", err)
	}
	if err != nil || n.Payload != "second" {
		t.Fatalf("second notification: %+v, %v", n, err)
	}
}

// TestBackendPIDIsConsistent checks that the process id a client learns at
// startup (BackendKeyData) is the one PostgreSQL reports elsewhere: by
// pg_backend_pid() and in NotificationResponse. Clients use it to ignore
// their own notifications and to find their session in pg_stat_activity.
func TestBackendPIDIsConsistent(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t)
	channel := uniqueName("self")
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "NOTIFY "+channel); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	backendPID := queryInt(t, conn, "SELECT pg_backend_pid()")
	if uint32(backendPID) != n.PID {
		t.Fatalf("pg_backend_pid() = %d but the notification names pid %d", backendPID, n.PID)
	}
	if got := conn.PgConn().PID(); got != n.PID {
		t.Errorf("BackendKeyData pid = %d, but PostgreSQL names this session %d in its own notifications (and pg_backend_pid()); a client filtering out its own notifications would not recognize them", got, n.PID)
	}
}

func TestNoticeResponse(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	cfg := parseConfig(t, p.url(appUser, appPassword, appDB))
	notices := make(chan *pgconn.Notice, 10)
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices <- n }
	conn := connectConfig(t, cfg)
	if _, err := conn.Exec(testContext(t), "DO $$BEGIN RAISE NOTICE 'hello %', 42 USING DETAIL = 'some detail'; END$$"); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notices:
		if n.Severity != "NOTICE" || n.Code != "00000" || n.Message != "hello 42" || n.Detail != "some detail" {
			t.Errorf("notice = %+v", n)
		}
	default:
		t.Fatal("no NoticeResponse reached the client")
	}
}

func TestParameterStatus(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	conn := p.app(t, "application_name", "at-startup")
	pc := conn.PgConn()
	if got := pc.ParameterStatus("application_name"); got != "at-startup" {
		t.Errorf("application_name at startup = %q", got)
	}
	for _, k := range []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "integer_datetimes", "standard_conforming_strings", "TimeZone"} {
		if pc.ParameterStatus(k) == "" {
			t.Errorf("ParameterStatus %s not relayed at startup", k)
		}
	}
	if _, err := conn.Exec(ctx, "SET application_name = 'changed'"); err != nil {
		t.Fatal(err)
	}
	if got := pc.ParameterStatus("application_name"); got != "changed" {
		t.Errorf("application_name after SET = %q", got)
	}
	if _, err := conn.Exec(ctx, "SET TimeZone = 'Pacific/Auckland'"); err != nil {
		t.Fatal(err)
	}
	if got := pc.ParameterStatus("TimeZone"); got != "Pacific/Auckland" {
		t.Errorf("TimeZone after SET = %q", got)
	}
	// The server really has the setting, so phiguard forwarded the
	// startup parameter rather than dropping it.
	var name string
	if err := conn.QueryRow(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&name); err != nil || name != "changed" {
		t.Errorf("server-side application_name = %q, %v", name, err)
	}
}
