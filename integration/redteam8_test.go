package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Red team 8, the first change: COPY FROM STDIN with a column list that
// leaves an encrypted column out (phiguard appends it, with a NULL field
// in every row), and the COPY rewriting around it. The second change is
// in redteam8_reprepare_test.go.

// rt8Copy runs COPY ... FROM STDIN (sql with %s for the table) with data
// on both sides of tw and returns each side's error.
func rt8Copy(t *testing.T, tw *twin, sql, data string) (via, dir error) {
	t.Helper()
	ctx := testContext(t)
	_, dir = tw.dir.PgConn().CopyFrom(ctx, strings.NewReader(data), fmt.Sprintf(sql, tw.plain))
	_, via = tw.via.PgConn().CopyFrom(ctx, strings.NewReader(data), fmt.Sprintf(sql, tw.enc))
	return via, dir
}

// TestRedTeam8CopySameAsPlain: COPY forms whose column list leaves the
// encrypted column out, each on both twins: the same rows stored (or a
// refusal through phiguard), and nothing in clear.
func TestRedTeam8CopySameAsPlain(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt8copy", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt8copy-k, type: text}"})
	for _, c := range []struct{ what, sql, data string }{
		// CSV's end-of-data marker: PostgreSQL stops at a line holding
		// only \. in CSV too; phiguard appended a field to it (\.,) and
		// PostgreSQL stored it as a row.
		{"CSV end marker, one listed column", "COPY %s (note) FROM STDIN (FORMAT csv)", "a\n\\.\n"},
		{"CSV end marker, two listed columns", "COPY %s (id, note) FROM STDIN (FORMAT csv)", "1,a\n\\.\n"},
		{"CSV end marker, no newline", "COPY %s (note) FROM STDIN (FORMAT csv)", "a\n\\."},
		{"CSV end marker, CRLF", "COPY %s (note) FROM STDIN (FORMAT csv)", "a\r\n\\.\r\n"},
		{"text end marker", "COPY %s (note) FROM STDIN", "a\n\\.\n"},
		{"text end marker, rows after it", "COPY %s (id, note) FROM STDIN", "1\ta\n\\.\n2\tb\n"},
		{"CSV end marker, rows after it", "COPY %s (id, note) FROM STDIN (FORMAT csv)", "1,a\n\\.\n2,b\n"},
		{"CSV quoted end marker", "COPY %s (note) FROM STDIN (FORMAT csv)", "\"\\.\"\n"},
		{"text NULL '\\t' (backslash t)", "COPY %s (id, note) FROM STDIN (NULL '\\t')", "1\t\\011\n2\t\\t\n"},
		{"CSV ESCAPE same as DELIMITER", "COPY %s (id, note) FROM STDIN (FORMAT csv, ESCAPE ',')", "1,\"a,,b,\"\"\"\n"},
		// A NULL string without a backslash: a value written with an
		// escape that decodes to it is not NULL; re-encoded bare, it was.
		{"text NULL 'abc', value \\abc", "COPY %s (id, note) FROM STDIN (NULL 'abc')", "1\t\\abc\n2\tabc\n"},
		{"text NULL 'ab', value a\\b", "COPY %s (note) FROM STDIN (NULL 'ab')", "a\\b\n"},
		// HEADER spelled in capitals: PostgreSQL reads it as true.
		{"HEADER 'TRUE', short header", "COPY %s (id, note) FROM STDIN (FORMAT csv, HEADER 'TRUE')", "h\n1,a\n"},
		{"HEADER 'On', text", "COPY %s (id, note) FROM STDIN (HEADER 'On')", "x\n2\tb\n"},
		{"CRLF lines", "COPY %s (id, note) FROM STDIN", "1\ta\r\n2\tb\r\n"},
		{"trailing empty field", "COPY %s (id, note) FROM STDIN", "1\t\n"},
		{"empty line, one column", "COPY %s (note) FROM STDIN", "\n"},
		{"CSV quoted newline", "COPY %s (id, note) FROM STDIN (FORMAT csv)", "1,\"a\nb\"\n"},
		{"CSV HEADER match", "COPY %s (id, note) FROM STDIN (FORMAT csv, HEADER match)", "id,note\n1,x\n"},
		{"delimiter |, NULL ''", "COPY %s (id, note) FROM STDIN (DELIMITER '|', NULL '')", "1|\n2|z\n"},
		{"CSV NULL 'N', quoted N", "COPY %s (id, note) FROM STDIN (FORMAT csv, NULL 'N')", "1,\"N\"\n2,N\n"},
		{"a field past a list naming every encrypted column", "COPY %s (note, ssn) FROM STDIN", "a\tb\t" + rt5SSN + "\n"},
		{"a field short, CSV", "COPY %s (note, ssn) FROM STDIN (FORMAT csv)", "a\n"},
		{"schema, comment, quoted names", "COPY /* c */ public . %s /* c */ ( \"id\" , \"note\" ) FROM STDIN", "1\ta\n"},
	} {
		tw.clear(t)
		via, dir := rt8Copy(t, tw, c.sql, c.data)
		rt5NoPlain(t, tw)
		if dir != nil {
			if pgCode(via) != pgCode(dir) {
				t.Errorf("%s: through phiguard %v, directly %v", c.what, via, dir)
			}
			continue
		}
		if via != nil {
			t.Errorf("%s: refused through phiguard (%v), stored directly", c.what, via)
			continue
		}
		var nulls int
		if err := tw.dir.QueryRow(testContext(t), "SELECT count(*) FROM "+tw.enc+" WHERE ssn IS NOT NULL").Scan(&nulls); err != nil || nulls != 0 {
			t.Errorf("%s: %d rows with ssn set (%v)", c.what, nulls, err)
		}
		want := tableText(t, tw.dir, "SELECT id, note FROM "+tw.plain+" ORDER BY 1, 2", pgx.QueryExecModeSimpleProtocol)
		if got := tableText(t, tw.dir, "SELECT id, note FROM "+tw.enc+" ORDER BY 1, 2", pgx.QueryExecModeSimpleProtocol); got != want {
			t.Errorf("%s: stored through phiguard\n%s\ndirectly\n%s", c.what, got, want)
		}
	}
}

// TestRedTeam8CopyMultiStatement: a Query holding a COPY whose list
// leaves the encrypted column out and another statement: the guard's
// rewrite of the list takes one statement only, while the proxy still
// appends a NULL field for the column to every row.
func TestRedTeam8CopyMultiStatement(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt8multi", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt8multi-k, type: text}"})
	for _, sql := range []string{"COPY %s (id, note) FROM STDIN; SELECT 1", "SELECT 1; COPY %s (id, note) FROM STDIN"} {
		tw.clear(t)
		via, dir := rt8Copy(t, tw, sql, "1\ta\n")
		rt5NoPlain(t, tw)
		t.Logf("%s: through phiguard %v, directly %v", sql, via, dir)
		if dir != nil {
			t.Fatalf("directly: %v", dir)
		}
		if via == nil {
			tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, sql)
		} else if code := pgCode(via); code != "0A000" {
			t.Errorf("%s through phiguard: %v; want the rows or 0A000", sql, via)
		}
	}
}

// TestRedTeam8CopyTwoEncrypted: a table with a subject column, a
// deterministic column and a randomized one sealed per subject; COPY
// lists some and leaves others out, after another session gave the
// left-out ones plaintext defaults: phiguard stored NULL, where
// PostgreSQL stores the default, neither the same answer nor a refusal.
// The catalog is read before such a COPY now, and the default refuses it
// (0A000); once the defaults are dropped, rows read back through
// phiguard equal what plain PostgreSQL stores.
func TestRedTeam8CopyTwoEncrypted(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	enc, plain := uniqueName("rt8two_enc"), uniqueName("rt8two_plain")
	su := superuser(t)
	for _, table := range []string{enc, plain} {
		if _, err := su.Exec(ctx, "CREATE TABLE "+table+" (id int, note text, ssn text, first text); GRANT ALL ON "+table+" TO "+appUser); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, "version: 1\ntables:\n  public."+enc+":\n    subject_column: id\n    columns:\n      ssn: {mode: deterministic, key: rt8two-k, type: text}\n      first: {mode: randomized, key: rt8two-r, type: text}\n")})
	conn, dir := p.app(t), direct(t)
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, "ALTER TABLE "+enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"', ALTER COLUMN first SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	tw := &twin{enc: enc, plain: plain, via: conn, dir: dir}
	copies := []struct{ sql, data string }{
		{"COPY %s (id, note) FROM STDIN", "1\ta\n"},
		{"COPY %s (id, ssn) FROM STDIN", "2\t078-05-1121\n"},
		{"COPY %s (first, id) FROM STDIN (FORMAT csv)", "Ann,3\n"},
		{"COPY %s (\"id\", \"ssn\", note) FROM STDIN (FORMAT csv, HEADER)", "x,y,z\n4,078-05-1122,\"q\nr\"\n"},
		{"COPY %s (id, note) FROM STDIN WHERE id > 5", "5\tskip\n6\tkept\n"},
	}
	// The catalog is read before each: the defaults refuse them.
	for _, c := range copies {
		_, err := tw.via.PgConn().CopyFrom(ctx, strings.NewReader(c.data), fmt.Sprintf(c.sql, enc))
		if pgCode(err) != "0A000" {
			t.Errorf("%s, defaults set elsewhere: %v; want 0A000", c.sql, err)
		}
		rt5NoPlain(t, tw)
	}
	if _, err := su.Exec(ctx, "ALTER TABLE "+enc+" ALTER COLUMN ssn DROP DEFAULT, ALTER COLUMN first DROP DEFAULT"); err != nil {
		t.Fatal(err)
	}
	for _, c := range copies {
		via, direct := rt8Copy(t, tw, c.sql, c.data)
		if via != nil || direct != nil {
			t.Errorf("%s: through phiguard %v, directly %v", c.sql, via, direct)
		}
		rt5NoPlain(t, tw)
	}
	// Binary, listing no column sealed per subject (nothing to seal).
	for _, side := range []struct {
		c     *pgx.Conn
		table string
	}{{conn, enc}, {dir, plain}} {
		if _, err := side.c.CopyFrom(ctx, pgx.Identifier{side.table}, []string{"id", "note"}, pgx.CopyFromRows([][]any{{7, "bin"}})); err != nil {
			t.Errorf("binary COPY leaving the sealed column out: %v", err)
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{enc}, []string{"id", "first"}, pgx.CopyFromRows([][]any{{8, "Bo"}})); pgCode(err) != "0A000" {
		t.Errorf("binary COPY of a column sealed per subject: %v; want 0A000", err)
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT id, note, ssn, first FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "COPY leaving encrypted columns out")
}

// TestRedTeam8CopyOwnDDLInTransaction: the session itself gives the
// encrypted column a default inside a transaction, then COPYs leaving it
// out: refused, or stored without the default; never the default in
// clear.
func TestRedTeam8CopyOwnDDLInTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, tw, table := rt7Setup(t, "rt8owntx", "CREATE TABLE {t} (id int, note text, ssn text)")
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" OWNER TO "+appUser); err != nil {
		t.Fatal(err)
	}
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); pgCode(err) != "0A000" {
		t.Errorf("SET DEFAULT on the encrypted column through phiguard: %v; want 0A000", err)
	}
	// phiguard refuses the DDL itself; the COPY after it, in the
	// aborted transaction or after a ROLLBACK, stores no default.
	_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("1\ta\n"), "COPY "+table+" (id, note) FROM STDIN")
	t.Logf("COPY after the session's own SET DEFAULT: %v", err)
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("2\tb\n"), "COPY "+table+" (id, note) FROM STDIN"); err != nil {
		t.Errorf("COPY after the ROLLBACK: %v", err)
	}
	rt5NoPlain(t, tw)
}

// TestRedTeam8CopyExtendedProtocol: COPY ... FROM STDIN sent as Parse,
// Bind and Execute, its list leaving the encrypted column out, after
// another session set a plaintext default: refused (the catalog is read
// before its Parse), nothing stored.
func TestRedTeam8CopyExtendedProtocol(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, tw, table := rt7Setup(t, "rt8copyext", "CREATE TABLE {t} (id int, note text, ssn text)")
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	pc := conn.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Parse{Query: "COPY " + table + " (id, note) FROM STDIN"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.CopyData{Data: []byte("1\ta\n2\tb\n")})
	fe.Send(&pgproto3.CopyDone{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var copyErr string
	for done := false; !done; {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			copyErr = m.Code + " " + m.Message
		case *pgproto3.ReadyForQuery:
			done = true
		}
	}
	if !strings.HasPrefix(copyErr, "0A000") {
		t.Errorf("COPY in the extended protocol, a default set elsewhere: %q; want 0A000", copyErr)
	}
	rt5NoPlain(t, tw)
	var n int
	if err := tw.dir.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE ssn IS NOT NULL").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows with ssn set (%v)", n, err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 afterwards: %d, %v", one, err)
	}
}

// rt8CopyBytewise runs COPY ... FROM STDIN with each byte of data in a
// CopyData message of its own.
func rt8CopyBytewise(t *testing.T, c *pgx.Conn, sql, data string) error {
	t.Helper()
	ctx := testContext(t)
	pc := c.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Query{String: sql})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var failed error
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyInResponse:
			for i := 0; i < len(data); i++ {
				fe.Send(&pgproto3.CopyData{Data: []byte{data[i]}})
			}
			fe.Send(&pgproto3.CopyDone{})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
		case *pgproto3.ErrorResponse:
			failed = &pgconn.PgError{Code: m.Code, Message: m.Message}
		case *pgproto3.ReadyForQuery:
			return failed
		}
	}
}

// TestRedTeam8CopyBytewise: rows cut at every byte (inside an escape, a
// CRLF, a quoted CSV newline, the end marker) read as when sent whole;
// and line endings as the client wrote them: phiguard ended every row in
// \n, so a stream mixing \r\n and \n, which PostgreSQL fails (22P04),
// was stored; and a lone \r, which PostgreSQL takes for a line ending,
// was kept inside the field (a\rb\r: one row where PostgreSQL stores two).
func TestRedTeam8CopyBytewise(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt8bytes", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt8bytes-k, type: text}"})
	for _, c := range []struct{ sql, data string }{
		{"COPY %s (id, note) FROM STDIN", "1\ta\\\\b\\tc\r\n2\t\\N\r\n\\.\r\n"},
		{"COPY %s (id, note) FROM STDIN (FORMAT csv)", "1,\"x\ny\"\r\n2,\"q\"\"r\"\n\\.\n"},
		{"COPY %s (id, ssn, note) FROM STDIN (FORMAT csv, HEADER)", "id,ssn,note\n3,078-05-1121,\"s\r\nt\"\n"},
		{"COPY %s (note, id) FROM STDIN", "\\x41\\102\t4"},
		{"COPY %s (id, note) FROM STDIN", "1\ta\r\n2\tb\n"},
		{"COPY %s (note) FROM STDIN", "a\rb\r"},
		{"COPY %s (id, note) FROM STDIN (FORMAT csv)", "1,a\r2,\"x\ry\"\r\\.\r"},
		{"COPY %s (id, ssn) FROM STDIN", "1\t078-05-1121\r2\t078-05-1122"},
		{"COPY %s (id, note) FROM STDIN", "1\ta\n2\tb\r\n"},
	} {
		tw.clear(t)
		ctx := testContext(t)
		_, dir := tw.dir.PgConn().CopyFrom(ctx, strings.NewReader(c.data), fmt.Sprintf(c.sql, tw.plain))
		via := rt8CopyBytewise(t, tw.via, fmt.Sprintf(c.sql, tw.enc), c.data)
		rt5NoPlain(t, tw)
		if dir != nil || via != nil {
			if pgCode(dir) != pgCode(via) {
				t.Errorf("%s: through phiguard %v, directly %v", c.sql, via, dir)
			}
			continue
		}
		tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, c.sql)
	}
}

// TestRedTeam8CopyEncodingOption: COPY's ENCODING option names the
// data's encoding apart from client_encoding (which phiguard holds to
// what it parses). In SJIS, BIG5, GBK and the like a character's second
// byte can be a backslash (0x95 0x5C), which PostgreSQL reads as part of
// the character and phiguard, reading bytes, as an escape: phiguard took
// the SSN for a field after the last listed column and passed it as it
// came, and PostgreSQL, with the backslash phiguard wrote back escaping
// a delimiter, stored it in ssn in clear.
func TestRedTeam8CopyEncodingOption(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt8enc", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt8enc-k, type: text}"})
	for _, c := range []struct{ sql, data string }{
		{"COPY %s (note, ssn) FROM STDIN (ENCODING 'SJIS')", "\x95\x5c\x5c\tX\t" + rt5SSN + "\n"},
		{"COPY %s (note, ssn) FROM STDIN (ENCODING 'BIG5')", "\xa5\x5c\x5c\tX\t" + rt5SSN + "\n"},
		{"COPY %s (id, note) FROM STDIN (ENCODING 'sjis')", "1\t\x95\x5c\x5c\t" + rt5SSN + "\n"},
		{"COPY %s (note, ssn) FROM STDIN (FORMAT csv, ENCODING 'SJIS', QUOTE '\\', ESCAPE '\\')", "\\\x95\\\\,X\\,078\n"},
	} {
		tw.clear(t)
		via, dir := rt8Copy(t, tw, c.sql, c.data)
		t.Logf("%s: through phiguard %v, directly %v", c.sql, via, dir)
		rt5NoPlain(t, tw)
		if pgCode(via) != "0A000" {
			t.Errorf("%s: through phiguard %v; want 0A000", c.sql, via)
		}
	}
	// UTF-8 named any way PostgreSQL accepts goes on as before.
	tw.clear(t)
	if via, dir := rt8Copy(t, tw, "COPY %s (id, note) FROM STDIN (ENCODING 'utf-8')", "1\tä\n"); via != nil || dir != nil {
		t.Errorf("ENCODING 'utf-8': through phiguard %v, directly %v", via, dir)
	}
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "ENCODING 'utf-8'")
}

// TestRedTeam8CopyOptionsCached: phiguard caches a statement's analysis
// by its text with the literals taken out, across sessions; COPY's
// options are literals (DELIMITER '|', NULL 'x', ENCODING 'SJIS'), so a
// COPY planned once with DELIMITER ',' lent its plan to the same COPY
// with DELIMITER '|': phiguard cut the rows at the commas, passed the
// field it took for note as it came, and PostgreSQL, cutting at '|',
// stored its second half, the SSN, in ssn in clear.
func TestRedTeam8CopyOptionsCached(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt8optcache", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt8optcache-k, type: text}"})
	for _, c := range []struct{ sql, data string }{
		{"COPY %s (note, ssn) FROM STDIN (DELIMITER ',')", "a,b\n"},
		{"COPY %s (note, ssn) FROM STDIN (DELIMITER '|')", "a|" + rt5SSN + ",b\n"},
		{"COPY %s (note, ssn) FROM STDIN (NULL 'x')", "x\tx\n"},
		{"COPY %s (note, ssn) FROM STDIN (NULL 'y')", "x\t" + rt5SSN + "\n"},
		{"COPY %s (note, ssn) FROM STDIN (FORMAT csv, QUOTE '\"')", "\"a\",b\n"},
		{"COPY %s (note, ssn) FROM STDIN (FORMAT csv, QUOTE '''')", "'a\",zz,b\"',c\n"},
	} {
		via, dir := rt8Copy(t, tw, c.sql, c.data)
		t.Logf("%s: through phiguard %v, directly %v", c.sql, via, dir)
		rt5NoPlain(t, tw)
		if (via == nil) != (dir == nil) {
			t.Errorf("%s: through phiguard %v, directly %v", c.sql, via, dir)
		}
	}
	rows := func(c *pgx.Conn, table string) string {
		lines := strings.Split(tableText(t, c, "SELECT note, ssn FROM "+table, pgx.QueryExecModeSimpleProtocol), "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	if got, want := rows(tw.via, tw.enc), rows(tw.dir, tw.plain); got != want {
		t.Errorf("COPYs with other options: through phiguard\n%s\ndirectly\n%s", got, want)
	}
}
