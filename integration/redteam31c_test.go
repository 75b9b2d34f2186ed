package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team of the catalog's schema-qualified names and its 40001 check
// (review31c, on cbe7cbd): a relation another session makes after this
// session read its catalog must be refused or answered as the plaintext
// database answers, and none made before wrongly refused.

// rt31cProxy makes an encrypted table (id int, s text encrypted, holding
// (1, 'secret')) and a phiguard session over it that has read its
// catalog.
func rt31cProxy(t *testing.T) (su, app *pgx.Conn, enc string) {
	t.Helper()
	ctx := testContext(t)
	su = superuser(t)
	enc = uniqueName("rt31c_enc")
	if _, err := su.Exec(ctx, "CREATE TABLE "+enc+" (id int, s text); GRANT ALL ON "+enc+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	app = p.app(t)
	if _, err := app.Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	return su, app, enc
}

func rt31cExec(t *testing.T, c *pgx.Conn, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := c.Exec(testContext(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// rt31cAnswer fails unless q answers want or is refused by phiguard.
func rt31cAnswer(t *testing.T, app *pgx.Conn, q, want string, mode pgx.QueryExecMode) {
	t.Helper()
	got, err := rt4Rows(app, q, mode)
	if err == nil && got != want {
		t.Fatalf("%s: got %q where the plaintext database answers %q", q, got, want)
	}
	if err != nil {
		if code := rt4Code(err); code == "client" || code == "" {
			t.Fatalf("%s: not a refusal from phiguard: %v", q, err)
		}
		t.Logf("%s: refused: %v", q, err)
	}
}

// TestRedTeam31cNameInUnrelatedSchema: an unqualified name counts as
// known when the catalog lists it in any schema, not only one on the
// search_path: a view made in public by another session under the name
// of a table in a schema nobody searches (another tenant's, an archive)
// is not read before the statement.
func TestRedTeam31cNameInUnrelatedSchema(t *testing.T) {
	t.Skip("HOLE: a table o.x exists in a schema not on the search_path; another session makes public.x, a view of length(s) over an encrypted column, after the catalog read: SELECT n FROM x serves 65 (the ciphertext's length) where PostgreSQL answers 6")
	t.Parallel()
	newrelRun(t, newrelCase{before: []string{"CREATE SCHEMA %[2]s_o", "CREATE TABLE %[2]s_o.%[2]s_x (id int)"},
		ddl:   []string{"CREATE VIEW %[2]s_x AS SELECT id, length(s) AS n FROM %[1]s"},
		query: "SELECT n FROM %[2]s_x", want: "6\n"}, pgx.QueryExecModeSimpleProtocol)
}

// TestRedTeam31cCreateTableAsFromView: CREATE TABLE AS (DDL, which the
// name check and the view refusal skipped) copied what a view over an
// encrypted column computes into a plain table: the length of the
// ciphertext (65) where PostgreSQL stores 6, then served from the copy,
// whether the catalog knew the view or another session made it since.
// It is refused now (0A000, the view named), like SELECT INTO.
func TestRedTeam31cCreateTableAsFromView(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	old, fresh := enc+"_old", enc+"_new"
	rt31cExec(t, su, "CREATE VIEW "+old+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+old+" TO "+appUser)
	if _, err := app.Exec(ctx, "DISCARD PLANS"); err != nil { // the catalog read after, lists old
		t.Fatal(err)
	}
	rt31cExec(t, su, "CREATE VIEW "+fresh+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+fresh+" TO "+appUser)
	for _, v := range []string{old, fresh} {
		for _, ddl := range []string{"CREATE TABLE %s_t AS SELECT n FROM %s", "CREATE TABLE %s_t AS TABLE %s",
			"CREATE MATERIALIZED VIEW %s_t AS SELECT n FROM %s"} {
			ddl = fmt.Sprintf(ddl, v, v)
			if _, err := app.Exec(ctx, ddl); err != nil {
				if code := rt4Code(err); code == "client" || code == "" {
					t.Fatalf("%s: %v", ddl, err)
				}
				t.Logf("%s: refused: %v", ddl, err)
				continue
			}
			rt31cAnswer(t, app, "SELECT n FROM "+v+"_t", "6\n", pgx.QueryExecModeSimpleProtocol)
			rt31cExec(t, app, "DROP "+map[bool]string{true: "MATERIALIZED VIEW", false: "TABLE"}[strings.Contains(ddl, "MATERIALIZED")]+" "+v+"_t")
		}
	}
}

// TestRedTeam31cSeventeenthName: the read before a statement asks the
// latest catalog about the first 16 names the catalog lacks; a
// REPEATABLE READ statement naming 16 tables it makes itself first, and
// then a view another session made after the snapshot, is not refused.
func TestRedTeam31cSeventeenthName(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su, app, enc := rt31cProxy(t)
	v := enc + "_v17"
	rt31cExec(t, app, "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT 1")
	rt31cExec(t, su, "CREATE VIEW "+v+" AS SELECT id, length(s) AS n FROM "+enc, "GRANT SELECT ON "+v+" TO "+appUser)
	var mk, from []string
	for i := range 16 {
		n := fmt.Sprintf("%s_t%d", enc, i)
		mk = append(mk, "CREATE TEMP TABLE "+n+" AS SELECT 1 AS k")
		from = append(from, n)
	}
	q := strings.Join(mk, "; ") + "; SELECT n FROM " + strings.Join(from, " NATURAL JOIN ") + " CROSS JOIN " + v
	res, err := app.PgConn().Exec(ctx, q).ReadAll()
	got := ""
	if err == nil && len(res) > 0 {
		for _, r := range res[len(res)-1].Rows {
			got += string(r[0]) + "\n"
		}
	}
	if err == nil && got != "6\n" {
		t.Fatalf("got %q where the plaintext database answers \"6\\n\"", got)
	}
	if err != nil && rt4Code(err) != "40001" && rt4Code(err) != "0A000" {
		t.Fatalf("%v, want the answer 6 or a refusal", err)
	}
	if _, err := app.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}
