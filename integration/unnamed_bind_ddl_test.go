package integration

import (
	"testing"
)

// TestUnnamedBindAfterOtherSessionsDDL: as
// TestRedTeam34NamedBindAfterOtherSessionsDDL for the unnamed statement,
// which a describe-then-execute client (pgconn's Prepare and
// ExecPrepared of "", pgx's describe-exec mode) binds first in a segment
// of its own. b Parses INSERT INTO enc (its path puts q before public,
// where the protected enc is); a makes q.enc through phiguard and adds a
// column to public.enc, which invalidates the statement; PostgreSQL
// analyses b's unnamed statement again at the Bind and resolves enc to
// q.enc, where it stores 'abc'. Before, phiguard read no catalog before
// an unnamed Bind (the read, a simple Query then, would have dropped the
// statement), so nothing checked it again and the Bind's value went as
// the ciphertext the Parse planned for public.enc into q.enc. Now the
// catalog is read first and the Bind refused (0A000 naming q.enc), as
// the named statement's.
func TestUnnamedBindAfterOtherSessionsDDL(t *testing.T) {
	t.Parallel()
	su, a, b, _, enc, q := rt34Proxy(t)
	ctx := testContext(t)
	rt31cExec(t, b, "SET search_path = "+q+", public")
	ins := "INSERT INTO " + enc + " (id, s) VALUES ($1, $2)"
	if _, err := b.PgConn().Prepare(ctx, "", ins, nil); err != nil {
		t.Fatal(err)
	}
	rt31cExec(t, a, "CREATE TABLE "+q+"."+enc+" (id int, s text)", "ALTER TABLE public."+enc+" ADD COLUMN x int")
	res := b.PgConn().ExecPrepared(ctx, "", [][]byte{[]byte("3"), []byte("abc")}, nil, nil).Read()
	var stored string
	if err := su.QueryRow(ctx, "SELECT coalesce(string_agg(s, ','), '<none>') FROM "+q+"."+enc).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != "<none>" && stored != "abc" {
		t.Fatalf("b's unnamed INSERT, bound after a's DDL, stored %q in %s.%s where PostgreSQL stores 'abc' (INSERT: %v)", stored, q, enc, res.Err)
	}
	rt33bRefused(t, "b's unnamed INSERT bound after a's DDL", res.Err, q+"."+enc)
	// Parsed again, the INSERT is refused as any write to enc is now
	// (catalog_shadow.go), and the session goes on.
	_, err := b.PgConn().Prepare(ctx, "", ins, nil)
	rt33bRefused(t, "the INSERT Parsed again", err, q+"."+enc)
	rt31cExec(t, b, "SELECT 1")
}
