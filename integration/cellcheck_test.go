package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/policy"
)

// encryptTable runs phiguard encrypt's backfill on table as its owner, a
// connection of its own: the way a user adds the cells-only CHECK to the
// columns it leaves without plaintext. It returns the run's notes.
func encryptTable(t *testing.T, ctx context.Context, prot *guard.Protection, pol *policy.Policy, op backfill.Op, table string) (string, error) {
	t.Helper()
	conn := connect(t, directURL(pg.Superuser, pg.Password, appDB))
	var notes bytes.Buffer
	_, err := backfill.Run(ctx, conn, backfill.Options{Op: op, Policy: pol, Keyring: prot.Keyring, Subjects: prot.Subjects,
		Table: table, Notes: &notes})
	return notes.String(), err
}

// cellCheckOf reads col's cells-only CHECK as phiguard check does.
func cellCheckOf(t *testing.T, ctx context.Context, pol *policy.Policy, table, column string) cellcheck.State {
	t.Helper()
	pt, ok := pol.Table("public", table)
	if !ok {
		t.Fatalf("%s not in the policy", table)
	}
	c, _ := pt.Column(column)
	st, err := cellcheck.Inspect(ctx, connect(t, directURL(pg.Superuser, pg.Password, appDB)), c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wantCellCheckRefusal: err is phiguard's wording of the CHECK's 23514 for
// table.column, and no part of it shows the value.
func wantCellCheckRefusal(t *testing.T, err error, table, column, value string) {
	t.Helper()
	pe := wantPgError(t, err, "23514")
	want := fmt.Sprintf("a value not sealed by phiguard was refused for encrypted column public.%s.%s", table, column)
	if !strings.Contains(pe.Message, want) || pe.ColumnName != column || pe.TableName != table || pe.ConstraintName != "phiguard_"+column+"_cells" {
		t.Fatalf("refusal: %q (table %q column %q constraint %q), want %q", pe.Message, pe.TableName, pe.ColumnName, pe.ConstraintName, want)
	}
	for _, f := range []string{pe.Message, pe.Detail, pe.Hint, pe.Where, pe.InternalQuery} {
		if strings.Contains(f, value) {
			t.Fatalf("the refusal shows the value: %q", f)
		}
	}
}

const cellKindsPolicy = `version: 1
tables:
  public.%[1]s_a:
    columns:
      det: {mode: deterministic, key: cc-det, type: text}
      rnd: {mode: randomized, key: cc-pii, type: text}
      trm: {mode: randomized, key: cc-pii, type: text, search: [equality, order, match], search_key_version: 1}
      dtm: {mode: deterministic, key: cc-dtm, type: text, search: [order, match], search_key_version: 1}
      num: {mode: randomized, key: cc-pii, type: integer}
  public.%[1]s_b:
    subject_column: pid
    columns:
      note: {mode: randomized, key: cc-pii, type: text}
      ntm:  {mode: randomized, key: cc-pii, type: text, search: [equality, match], search_key_version: 1}
`

// TestCellCheckCellKinds: once phiguard encrypt has added the cells-only
// CHECK, every kind of cell phiguard writes goes in through it
// (deterministic, randomized, per subject, with search terms, NULL, an
// empty string, UPDATE, COPY, both protocols) and reads back as written,
// while plaintext written around phiguard is refused by the database,
// even under a search_path whose operator ~ accepts everything.
func TestCellCheckCellKinds(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	p := uniqueName("cck")
	for _, q := range []string{
		"CREATE TABLE " + p + "_a (id int PRIMARY KEY, det text, rnd text, trm text, dtm text, num text)",
		"CREATE TABLE " + p + "_b (id int PRIMARY KEY, pid int, note text, ntm text)",
		grantPrefixed(p)} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(cellKindsPolicy, p))
	app := startProxy(t, proxyOptions{protect: prot}).app(t)
	insA := "INSERT INTO " + p + "_a (id, det, rnd, trm, dtm, num) VALUES ($1, $2, $3, $4, $5, $6)"
	insB := "INSERT INTO " + p + "_b (id, pid, note, ntm) VALUES ($1, $2, $3, $4)"
	write := func(id int, mode pgx.QueryExecMode) {
		t.Helper()
		v := fmt.Sprintf("Val%d", id)
		if _, err := app.Exec(ctx, insA, mode, id, v, v+"r", v+"t", v+"d", id); err != nil {
			t.Fatalf("%v insert a %d: %v", mode, id, err)
		}
		if _, err := app.Exec(ctx, insB, mode, id, fmt.Sprint(id%3), v+"n", v+"m"); err != nil { // the subject in text format
			t.Fatalf("%v insert b %d: %v", mode, id, err)
		}
	}
	write(1, pgx.QueryExecModeSimpleProtocol)
	write(2, pgx.QueryExecModeCacheStatement)
	if _, err := app.Exec(ctx, insA, 3, nil, "", nil, "", nil); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []string{p + "_a", p + "_b"} {
		notes, err := encryptTable(t, ctx, prot, prot.Policy, backfill.Encrypt, "public."+tab)
		if err != nil {
			t.Fatalf("encrypt %s: %v\n%s", tab, err, notes)
		}
	}
	for tab, cols := range map[string][]string{p + "_a": {"det", "rnd", "trm", "dtm", "num"}, p + "_b": {"note", "ntm"}} {
		for _, c := range cols {
			if st := cellCheckOf(t, ctx, prot.Policy, tab, c); st != cellcheck.Valid {
				t.Fatalf("%s.%s: cells-only CHECK %v after encrypt", tab, c, st)
			}
		}
	}

	// Every kind of write through phiguard, with the CHECK in place.
	write(4, pgx.QueryExecModeSimpleProtocol)
	write(5, pgx.QueryExecModeExec)
	write(6, pgx.QueryExecModeCacheDescribe)
	if _, err := app.Exec(ctx, "UPDATE "+p+"_a SET rnd = $1, trm = $2, det = $3 WHERE id = 4", "Upd4r", "Upd4t", "Upd4"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(ctx, "UPDATE "+p+"_b SET note = 'Upd4n', ntm = NULL WHERE pid = 1 AND id = 4", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := app.PgConn().CopyFrom(ctx, strings.NewReader("7\tVal7\tVal7r\tVal7t\tVal7d\t7\n8\t\\N\t\t\\N\tx\t\\N\n"),
		"COPY "+p+"_a (id, det, rnd, trm, dtm, num) FROM STDIN"); err != nil {
		t.Fatalf("COPY through phiguard: %v", err)
	}
	if _, err := app.PgConn().CopyFrom(ctx, strings.NewReader("7,1,Val7n,Val7m\n"), "COPY "+p+"_b (id, pid, note, ntm) FROM STDIN (FORMAT csv)"); err != nil {
		t.Fatalf("COPY csv through phiguard: %v", err)
	}
	rowsOf := func(conn *pgx.Conn, sql string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			vs, err := r.Values()
			return fmt.Sprint(vs), err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	gotA := rowsOf(app, "SELECT id, det, rnd, trm, dtm, num FROM "+p+"_a ORDER BY id")
	wantA := []string{"[1 Val1 Val1r Val1t Val1d 1]", "[2 Val2 Val2r Val2t Val2d 2]", "[3 <nil>  <nil>  <nil>]", "[4 Upd4 Upd4r Upd4t Val4d 4]",
		"[5 Val5 Val5r Val5t Val5d 5]", "[6 Val6 Val6r Val6t Val6d 6]", "[7 Val7 Val7r Val7t Val7d 7]", "[8 <nil>  <nil> x <nil>]"}
	if strings.Join(gotA, "\n") != strings.Join(wantA, "\n") {
		t.Fatalf("%s_a through phiguard:\n%s\nwant\n%s", p, strings.Join(gotA, "\n"), strings.Join(wantA, "\n"))
	}
	gotB := rowsOf(app, "SELECT id, pid, note, ntm FROM "+p+"_b ORDER BY id")
	wantB := []string{"[1 1 Val1n Val1m]", "[2 2 Val2n Val2m]", "[4 1 Upd4n <nil>]", "[5 2 Val5n Val5m]", "[6 0 Val6n Val6m]", "[7 1 Val7n Val7m]"}
	if strings.Join(gotB, "\n") != strings.Join(wantB, "\n") {
		t.Fatalf("%s_b through phiguard:\n%s\nwant\n%s", p, strings.Join(gotB, "\n"), strings.Join(wantB, "\n"))
	}

	// Around phiguard, plaintext is refused by the database, whatever
	// operator ~ the writer's search_path finds first.
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + p + "_evil",
		"CREATE FUNCTION " + p + "_evil.yes(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
		"CREATE OPERATOR " + p + "_evil.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = " + p + "_evil.yes)",
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	before := rowsOf(su, "SELECT id, det, rnd, trm, dtm, num FROM "+p+"_a ORDER BY id")
	for _, q := range []string{
		"INSERT INTO " + p + "_a (id, rnd) VALUES (100, 'PlainDirect')",
		"INSERT INTO " + p + "_a (id, det) VALUES (100, '~phg~ plain')",
		"INSERT INTO " + p + "_a (id, trm) VALUES (100, '~phs~1~~~~~')",
		"INSERT INTO " + p + "_a (id, dtm) VALUES (100, '')",
		"INSERT INTO " + p + "_a (id, num) VALUES (100, '42')",
		"UPDATE " + p + "_a SET det = 'PlainDirect' WHERE id = 1",
		"SET search_path = " + p + "_evil, pg_catalog, public; INSERT INTO " + p + "_a (id, rnd) VALUES (100, 'PlainDirect')",
	} {
		_, err := su.Exec(ctx, q)
		if pe := wantPgError(t, err, "23514"); !strings.HasPrefix(pe.ConstraintName, "phiguard_") || !strings.HasSuffix(pe.ConstraintName, "_cells") {
			t.Fatalf("%s: refused by %q", q, pe.ConstraintName)
		}
	}
	if _, err := su.Exec(ctx, "RESET search_path"); err != nil {
		t.Fatal(err)
	}
	after := rowsOf(su, "SELECT id, det, rnd, trm, dtm, num FROM "+p+"_a ORDER BY id")
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatal("a refused direct write changed the table")
	}
	if _, err := su.Exec(ctx, "INSERT INTO "+p+"_b (id, pid, note) VALUES (100, 1, 'PlainDirect')"); err == nil {
		t.Fatal("plaintext went into a per-subject column around phiguard")
	}
}

// TestCellCheckBackfill: phiguard encrypt adds the CHECK to a column it
// leaves without plaintext and not to one it does not; runs again through
// a CHECK that is there (rewriting every cell with search terms); refuses
// a constraint of the CHECK's name that is not phiguard's (a CHECK (true))
// and validates phiguard's own left NOT VALID; phiguard decrypt drops the
// CHECK first, and its plaintext goes in.
func TestCellCheckBackfill(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	tab := uniqueName("ccb")
	if _, err := su.Exec(ctx, "CREATE TABLE "+tab+" (id int PRIMARY KEY, pid int, s text, u text, w text); "+grantPrefixed(tab)); err != nil {
		t.Fatal(err)
	}
	// Legacy plaintext, written before phiguard. Row 3 has no subject,
	// so encrypt leaves its w in clear (its s is NULL).
	if _, err := su.Exec(ctx, "INSERT INTO "+tab+" SELECT g, CASE WHEN g <> 3 THEN g END, CASE WHEN g <> 3 THEN 'S'||g END, 'U'||g, 'W'||g FROM generate_series(1, 50) g"); err != nil {
		t.Fatal(err)
	}
	yaml := func(extra string) string {
		return fmt.Sprintf(`version: 1
tables:
  public.%s:
    subject_column: pid
    columns:
      s: {mode: randomized, key: ccb-k, type: text%s}
      u: {mode: deterministic, key: ccb-d, type: text}
      w: {mode: randomized, key: ccb-k, type: text}
`, tab, extra)
	}
	prot := protection(t, yaml(""))
	pol := prot.Policy
	// A CHECK (true) under s's name: taken for phiguard's, plaintext
	// would go in. encrypt refuses it.
	if _, err := su.Exec(ctx, "ALTER TABLE "+tab+" ADD CONSTRAINT phiguard_s_cells CHECK (true)"); err != nil {
		t.Fatal(err)
	}
	notes, err := encryptTable(t, ctx, prot, pol, backfill.Encrypt, tab)
	if err == nil || !strings.Contains(err.Error(), "already has a constraint named phiguard_s_cells that is not phiguard's") {
		t.Fatalf("encrypt over a CHECK (true) of the CHECK's name: %v\n%s", err, notes)
	}
	if st := cellCheckOf(t, ctx, pol, tab, "s"); st != cellcheck.Foreign {
		t.Fatalf("CHECK (true): %v", st)
	}
	// phiguard's own, left NOT VALID (an interrupted run): validated.
	pt, _ := pol.Table("public", tab)
	s, _ := pt.Column("s")
	if _, err := su.Exec(ctx, "ALTER TABLE "+tab+" DROP CONSTRAINT phiguard_s_cells"); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, "ALTER TABLE "+tab+" ADD CONSTRAINT phiguard_s_cells CHECK ("+cellcheck.Expr(s)+") NOT VALID"); err != nil {
		t.Fatal(err)
	}
	if st := cellCheckOf(t, ctx, pol, tab, "s"); st != cellcheck.NotValid {
		t.Fatalf("phiguard's CHECK NOT VALID: %v", st)
	}
	if notes, err = encryptTable(t, ctx, prot, pol, backfill.Encrypt, tab); err != nil {
		t.Fatalf("encrypt: %v\n%s", err, notes)
	}
	for c, want := range map[string]cellcheck.State{"s": cellcheck.Valid, "u": cellcheck.Valid, "w": cellcheck.Absent} {
		if st := cellCheckOf(t, ctx, pol, tab, c); st != want {
			t.Fatalf("after encrypt: %s %v, want %v\n%s", c, st, want, notes)
		}
	}
	if !strings.Contains(notes, "public."+tab+".w: cells-only CHECK phiguard_w_cells not added: 1 values are not cells yet") {
		t.Fatalf("notes do not say why w has no CHECK:\n%s", notes)
	}
	_, err = su.Exec(ctx, "UPDATE "+tab+" SET s = 'S1' WHERE id = 1")
	wantPgError(t, err, "23514")

	// Present: s gains search terms; encrypt rewrites every cell of it
	// through the CHECK.
	withTerms := validPolicy(t, yaml(", search: [equality], search_key_version: 1"))
	if notes, err = encryptTable(t, ctx, prot, withTerms, backfill.Encrypt, tab); err != nil {
		t.Fatalf("encrypt adding terms under the CHECK: %v\n%s", err, notes)
	}
	if n := queryInt(t, su, "SELECT count(*) FROM "+tab+" WHERE s LIKE '~phs~%'"); n != 49 {
		t.Fatalf("%d cells of s carry terms after the run, want 49\n%s", n, notes)
	}
	if st := cellCheckOf(t, ctx, pol, tab, "s"); st != cellcheck.Valid || !strings.Contains(notes, "CHECK phiguard_s_cells exists and is validated") {
		t.Fatalf("the CHECK after a run through it: %v\n%s", st, notes)
	}

	// decrypt (the columns back in state encrypting) drops the CHECK and
	// writes plaintext.
	if notes, err = encryptTable(t, ctx, prot, withTerms, backfill.Decrypt, tab); err != nil {
		t.Fatalf("decrypt: %v\n%s", err, notes)
	}
	for _, c := range []string{"s", "u"} {
		if st := cellCheckOf(t, ctx, pol, tab, c); st != cellcheck.Absent {
			t.Fatalf("after decrypt: %s %v", c, st)
		}
		if !strings.Contains(notes, "CHECK phiguard_"+c+"_cells dropped") {
			t.Fatalf("decrypt does not say it dropped %s's CHECK:\n%s", c, notes)
		}
	}
	if n := queryInt(t, su, "SELECT count(*) FROM "+tab+" WHERE s IS NOT DISTINCT FROM CASE WHEN id <> 3 THEN 'S'||id END AND u = 'U'||id AND w = 'W'||id"); n != 50 {
		t.Fatalf("after decrypt: %d of 50 rows hold their plaintext again", n)
	}
	if _, err := su.Exec(ctx, "UPDATE "+tab+" SET s = 'S1' WHERE id = 1"); err != nil {
		t.Fatalf("plaintext after decrypt: %v", err)
	}
}

// TestCellCheckNotOwner: a login that may UPDATE the table without owning
// it encrypts all the same (docs/backfill.md); the CHECK, which only the
// owner may add, is left for the owner's run, with a note saying so.
func TestCellCheckNotOwner(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	tab := uniqueName("ccn")
	if _, err := su.Exec(ctx, "CREATE TABLE "+tab+" (id int PRIMARY KEY, s text); INSERT INTO "+tab+" SELECT g, 'S'||g FROM generate_series(1, 20) g; "+
		"CREATE TABLE "+tab+"_z (id int PRIMARY KEY, s text); "+grantPrefixed(tab)); err != nil {
		t.Fatal(err)
	}
	prot := protection(t, fmt.Sprintf("version: 1\ntables:\n  public.%[1]s:\n    columns:\n      s: {mode: randomized, key: ccn-k, type: text}\n"+
		"  public.%[1]s_z:\n    columns:\n      s: {mode: randomized, key: ccn-k, type: text}\n", tab))
	run := func(conn *pgx.Conn, table string) string {
		t.Helper()
		var notes bytes.Buffer
		if _, err := backfill.Run(ctx, conn, backfill.Options{Op: backfill.Encrypt, Policy: prot.Policy, Keyring: prot.Keyring, Table: table, Notes: &notes}); err != nil {
			t.Fatalf("encrypt as %s: %v\n%s", conn.Config().User, err, notes.String())
		}
		return notes.String()
	}
	// The owner's run on another table makes the progress table, which
	// the other login is then given.
	run(connect(t, directURL(pg.Superuser, pg.Password, appDB)), tab+"_z")
	if _, err := su.Exec(ctx, "GRANT ALL ON "+backfill.ProgressTable+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	notes := run(connect(t, directURL(appUser, appPassword, appDB)), tab)
	if n := queryInt(t, su, "SELECT count(*) FROM "+tab+" WHERE s LIKE '~phg~%'"); n != 20 {
		t.Fatalf("the login that does not own the table encrypted %d of 20 rows\n%s", n, notes)
	}
	if st := cellCheckOf(t, ctx, prot.Policy, tab, "s"); st != cellcheck.Absent ||
		!strings.Contains(notes, "cells-only CHECK phiguard_s_cells not added: the login does not own") {
		t.Fatalf("not the owner: CHECK %v\n%s", st, notes)
	}
	notes = run(connect(t, directURL(pg.Superuser, pg.Password, appDB)), tab)
	if st := cellCheckOf(t, ctx, prot.Policy, tab, "s"); st != cellcheck.Valid || !strings.Contains(notes, "CHECK phiguard_s_cells added and validated") {
		t.Fatalf("the owner's run: CHECK %v\n%s", st, notes)
	}
}
