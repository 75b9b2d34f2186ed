package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam4CopyGeneratedColumn: COPY without a column list reads and
// writes every column but the generated ones; phiguard, counting them,
// failed both ways with 22P04 where PostgreSQL copied.
func TestRedTeam4CopyGeneratedColumn(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt4gen",
		twinColumn{"id", "int", ""},
		twinColumn{"g", "int GENERATED ALWAYS AS (id * 2) STORED", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt4gen-k, type: text}"})
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
		if _, err := side.conn.PgConn().CopyFrom(ctx, strings.NewReader("1\t078-05-1120\n2\t\\N\n"), "COPY "+side.table+" FROM STDIN"); err != nil {
			t.Fatalf("COPY FROM into %s: %v", side.table, err)
		}
		var out strings.Builder
		if _, err := side.conn.PgConn().CopyTo(ctx, &out, "COPY "+side.table+" TO STDOUT"); err != nil {
			t.Fatalf("COPY TO from %s: %v", side.table, err)
		}
		if out.String() != "1\t078-05-1120\n2\t\\N\n" {
			t.Errorf("COPY TO from %s: %q", side.table, out.String())
		}
	}
	tw.same(t, "SELECT id, g, ssn FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, "copied around a generated column")
}

// TestRedTeam4CopyStaleCatalog: a session's catalog (the column order a
// COPY without a column list follows) is read at login and after DDL in
// that session only. After another session drops a column before the
// encrypted one and adds one at the end, the count still matches, and a
// COPY through the first session lined its fields up with the old
// columns: the SSN went into the encrypted column as plaintext.
func TestRedTeam4CopyStaleCatalog(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt4stale",
		twinColumn{"id", "int", ""},
		twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt4stale-k, type: text}"})
	if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil { // the session is up, its catalog read
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" DROP COLUMN note; ALTER TABLE "+tw.enc+" ADD COLUMN extra text"); err != nil {
		t.Fatal(err)
	}
	_, err := tw.via.PgConn().CopyFrom(ctx, strings.NewReader("1\t078-05-1120\tx\n"), "COPY "+tw.enc+" FROM STDIN")
	t.Logf("COPY: %v", err)
	var plain int
	if err := tw.dir.QueryRow(ctx, "SELECT count(*) FROM "+tw.enc+" WHERE ssn NOT LIKE '~phg~%'").Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if plain != 0 {
		t.Errorf("a COPY after another session's DDL stored %d plaintext cell(s) in the encrypted ssn column", plain)
	}
}

// TestRedTeam4StaleCatalogSameNames: with the dropped column added back
// under its own name (now last), the names phiguard writes into a
// missing column list still exist, so PostgreSQL follows them: the value
// the client put where the table now has ssn went, in plaintext, into
// note. The filled statement now checks, as it runs, that each listed
// column keeps its number and name (sqlrewrite.GuardColumnOrder): it is
// refused with 40001 and nothing is written, and the session reads its
// catalog before the next statement, so running it again stores what
// PostgreSQL stores on the plaintext table.
func TestRedTeam4StaleCatalogSameNames(t *testing.T) {
	t.Parallel()
	// Each subtest has its own context: parallel subtests may start long
	// after the parent, past a context made for it.
	cases := []struct {
		what string
		run  func(ctx context.Context, conn *pgx.Conn, table string) error
	}{
		{"INSERT, simple protocol", func(ctx context.Context, c *pgx.Conn, table string) error {
			_, err := c.Exec(ctx, "INSERT INTO "+table+" VALUES (1, '078-05-1120', 'x')", pgx.QueryExecModeSimpleProtocol)
			return err
		}},
		{"INSERT, extended protocol", func(ctx context.Context, c *pgx.Conn, table string) error {
			_, err := c.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, $3)", pgx.QueryExecModeExec, 1, "078-05-1120", "x")
			return err
		}},
		{"INSERT of the leading columns only", func(ctx context.Context, c *pgx.Conn, table string) error {
			_, err := c.Exec(ctx, "INSERT INTO "+table+" VALUES (1, '078-05-1120')", pgx.QueryExecModeSimpleProtocol)
			return err
		}},
		{"COPY", func(ctx context.Context, c *pgx.Conn, table string) error {
			_, err := c.PgConn().CopyFrom(ctx, strings.NewReader("1\t078-05-1120\tx\n"), "COPY "+table+" FROM STDIN")
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			tw := newTwin(t, "rt4same",
				twinColumn{"id", "int", ""},
				twinColumn{"note", "text", ""},
				twinColumn{"ssn", "text", "{mode: deterministic, key: rt4same-k, type: text}"})
			if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{tw.enc, tw.plain} {
				if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN note; ALTER TABLE "+table+" ADD COLUMN note text"); err != nil {
					t.Fatal(err)
				}
			}
			err := c.run(ctx, tw.via, tw.enc)
			t.Logf("first run: %v", err)
			if err != nil && rt4Code(err) != "40001" {
				t.Fatalf("first run after another session's DDL: %v, want success or 40001", err)
			}
			rt4NoPlainSSN(t, tw)
			if err != nil {
				if err = c.run(ctx, tw.via, tw.enc); err != nil {
					t.Fatalf("run again after the refusal: %v", err)
				}
			}
			if err := c.run(ctx, tw.dir, tw.plain); err != nil {
				t.Fatal(err)
			}
			rt4NoPlainSSN(t, tw)
			tw.same(t, "SELECT id, ssn, note FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, c.what)
		})
	}
}

// rt4NoPlainSSN fails if the SSN is stored in clear anywhere in the
// encrypted table.
func rt4NoPlainSSN(t *testing.T, tw *twin) {
	t.Helper()
	var leaked int
	if err := tw.dir.QueryRow(testContext(t), "SELECT count(*) FROM "+tw.enc+" WHERE note = '078-05-1120' OR ssn = '078-05-1120'").Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("the SSN is stored in clear in %s", tw.enc)
	}
}

// TestRedTeam4BinaryCopyInvalidText: a binary COPY field for a text
// column is checked by textrecv against the database encoding
// (22021 for invalid UTF-8); phiguard must not store it encrypted.
func TestRedTeam4BinaryCopyInvalidText(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt4bin",
		twinColumn{"id", "int", ""},
		twinColumn{"name", "text", "{mode: randomized, key: rt4bin-k, type: text}"},
		twinColumn{"v", "varchar(3)", "{mode: randomized, key: rt4bin-k, type: varchar(3)}"})
	tuple := func(name, v []byte) []byte {
		b := []byte{0, 3, 0, 0, 0, 4, 0, 0, 0, 1}
		for _, f := range [][]byte{name, v} {
			b = append(b, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
			b = append(b, f...)
		}
		return b
	}
	for _, c := range []struct {
		what    string
		name, v []byte
	}{
		{"invalid UTF-8", []byte("a\xffb"), []byte("x")},
		{"a NUL", []byte("a\x00b"), []byte("x")},
		{"varchar(3) overlong", []byte("ok"), []byte("abcd")},
		{"varchar(3) trailing spaces", []byte("ok"), []byte("abc  ")},
	} {
		stream := append([]byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00"), tuple(c.name, c.v)...)
		stream = append(stream, 0xff, 0xff)
		_, derr := tw.dir.PgConn().CopyFrom(ctx, bytes.NewReader(stream), "COPY "+tw.plain+" (id, name, v) FROM STDIN (FORMAT binary)")
		_, verr := tw.via.PgConn().CopyFrom(ctx, bytes.NewReader(stream), "COPY "+tw.enc+" (id, name, v) FROM STDIN (FORMAT binary)")
		if (derr == nil) != (verr == nil) || rt4Code(derr) != rt4Code(verr) && rt4Code(verr) != "0A000" {
			t.Errorf("%s: through phiguard %v, directly %v", c.what, verr, derr)
		}
		tw.same(t, "SELECT id, name, v FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, c.what)
		tw.clear(t)
	}
}
