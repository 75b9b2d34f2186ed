package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const compareParamPolicy = `
version: 1
tables:
  public.people:
    columns:
      ssn: {mode: deterministic, key: cp-ssn, type: text}
      mrn: {mode: deterministic, key: cp-mrn, type: integer}
`

// Synthetic values, none of them PHI.
func cpSSN(id int) string { return fmt.Sprintf("900-00-%04d", id) }
func cpMRN(id int) int    { return 5000 + id }

// TestCompareParamsAcrossKeyVersions: rows written under key version 1,
// then a rotation (versions 1 and 2 live, 2 writes), then more rows. A
// search by $n parameter finds the rows of both versions in every pgx
// exec mode, the client sees only its own parameters, and with a single
// live version the statement reaches PostgreSQL as the client wrote it.
func TestCompareParamsAcrossKeyVersions(t *testing.T) {
	ctx := testContext(t)
	db := uniqueName("cmpparam")
	if err := pg.CreateDatabase(ctx, db, appUser); err != nil {
		t.Fatal(err)
	}
	own := connect(t, directURL(appUser, appPassword, db))
	if _, err := own.Exec(ctx, "CREATE TABLE people (id int PRIMARY KEY, ssn text, mrn text)"); err != nil {
		t.Fatal(err)
	}
	pol, err := sqlrewrite.ParsePolicy([]byte(compareParamPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	dks := []keys.DataKey{newDataKey(t, "cp-ssn", 1), newDataKey(t, "cp-mrn", 1)}
	p1 := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: mustKeyring(t, dks)}})
	insert := func(conn *pgx.Conn, ids ...int) {
		t.Helper()
		for _, id := range ids {
			if _, err := conn.Exec(ctx, "INSERT INTO people (id, ssn, mrn) VALUES ($1, $2, $3)", id, cpSSN(id), cpMRN(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	c1 := connect(t, p1.url(appUser, appPassword, db))
	insert(c1, 1, 2, 3)

	// One live version: the text PostgreSQL prepares is the client's.
	const byID = "SELECT id FROM people WHERE id > $1 AND ssn = $2"
	var id int
	if err := c1.QueryRow(ctx, byID, pgx.QueryExecModeCacheStatement, 0, cpSSN(2)).Scan(&id); err != nil || id != 2 {
		t.Fatalf("one version: id %d, %v", id, err)
	}
	// (with the check of its = as a second item no cell equals:
	// sqlrewrite/operator_guard.go, PlaceArray).
	if got := preparedTexts(t, ctx, c1); !slices.ContainsFunc(got, checkedText("SELECT id FROM people WHERE id > $1 AND ssn = ", "$2")) {
		t.Errorf("one live version: prepared %q, want the client's text", got)
	}

	// Rotate: phiguard restarts with versions 1 and 2; 2 writes.
	dks = append(dks, newDataKey(t, "cp-ssn", 2), newDataKey(t, "cp-mrn", 2))
	p2 := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: mustKeyring(t, dks)}})
	url2 := p2.url(appUser, appPassword, db)
	c2 := connect(t, url2)
	insert(c2, 4, 5, 6)
	versions := map[int]uint32{}
	rows, _ := own.Query(ctx, "SELECT id, ssn, mrn FROM people")
	var ssn, mrn string
	if _, err := pgx.ForEachRow(rows, []any{&id, &ssn, &mrn}, func() error {
		a, err1 := keys.Inspect([]byte(ssn))
		b, err2 := keys.Inspect([]byte(mrn))
		if err1 != nil || err2 != nil || a.KeyVersion != b.KeyVersion {
			return fmt.Errorf("row %d: cells %v %v, versions %d %d", id, err1, err2, a.KeyVersion, b.KeyVersion)
		}
		versions[id] = a.KeyVersion
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(versions) != "map[1:1 2:1 3:1 4:2 5:2 6:2]" {
		t.Fatalf("key versions of the rows: %v", versions)
	}

	cases := []struct {
		sql  string
		args []any
		want int
	}{
		{"SELECT count(*) FROM people WHERE ssn = $1", []any{cpSSN(1)}, 1},
		{"SELECT count(*) FROM people WHERE ssn = $1", []any{cpSSN(5)}, 1},
		{"SELECT count(*) FROM people WHERE mrn = $1", []any{cpMRN(2)}, 1},
		{"SELECT count(*) FROM people WHERE mrn=$1 OR ssn = $2", []any{cpMRN(3), cpSSN(6)}, 2},
		{"SELECT count(*) FROM people WHERE id > $1 AND ssn = $2", []any{0, cpSSN(3)}, 1},
		{"SELECT count(*) FROM people WHERE ssn IN ($1, $2, '" + cpSSN(2) + "')", []any{cpSSN(1), cpSSN(4)}, 3},
		{"SELECT count(*) FROM people WHERE ssn <> $1", []any{cpSSN(1)}, 5},
		{"SELECT count(*) FROM people WHERE ssn NOT IN ($1, $2)", []any{cpSSN(2), cpSSN(6)}, 4},
		{"SELECT count(*) FROM people WHERE ssn = $1 AND mrn = $2", []any{cpSSN(2), cpMRN(2)}, 1},
		{"SELECT count(*) FROM people WHERE ssn = $1 OR ssn = $1", []any{cpSSN(3)}, 1},
		// GROUP BY 1 walks the entry again: two values at one $1 (since
		// 68fad01 refused, XX000 "overlapping parameters").
		{"SELECT count(*) FROM (SELECT ssn = $1 AS m FROM people GROUP BY 1) g WHERE m", []any{cpSSN(1)}, 1},
		{"SELECT count(*) FROM (SELECT ssn = $1 AS m FROM people GROUP BY m) g WHERE m", []any{cpSSN(5)}, 1},
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol}
	for _, mode := range modes {
		conn := connect(t, url2) // a fresh statement cache per mode
		for _, c := range cases {
			var got int
			if err := conn.QueryRow(ctx, c.sql, append([]any{mode}, c.args...)...).Scan(&got); err != nil {
				t.Errorf("%v: %s: %v", mode, c.sql, err)
				continue
			}
			if got != c.want {
				t.Errorf("%v: %s: %d rows, want %d", mode, c.sql, got, c.want)
			}
		}
	}

	// A multiple-column SET whose source compares a parameter: the parse
	// tree holds a copy of the source per target, planned once (since
	// 68fad01 the two edits of its $1 were refused, XX000 "overlapping
	// parameters"; the simple protocol's literal was never affected).
	if _, err := own.Exec(ctx, "CREATE TABLE tally (id int PRIMARY KEY, a bigint, b bigint); INSERT INTO tally VALUES (1, -1, -1)"); err != nil {
		t.Fatal(err)
	}
	const tally = "UPDATE tally SET (a, b) = (SELECT count(*), count(*) FROM people WHERE ssn = $1) WHERE id = 1"
	for _, mode := range modes {
		conn := connect(t, url2)
		for _, c := range []struct {
			ssn  string
			want int64
		}{{cpSSN(1), 1}, {cpSSN(5), 1}, {"no such ssn", 0}} {
			if _, err := conn.Exec(ctx, tally, mode, c.ssn); err != nil {
				t.Errorf("%v: %s: %v", mode, tally, err)
				continue
			}
			var a, b int64
			if err := own.QueryRow(ctx, "SELECT a, b FROM tally WHERE id = 1").Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			if a != c.want || b != c.want {
				t.Errorf("%v: %s: set (%d, %d), want %d", mode, tally, a, b, c.want)
			}
		}
	}

	// The client sees its own parameters only; PostgreSQL has the hidden one.
	sd, err := c2.Prepare(ctx, "by_id", byID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sd.ParamOIDs) != "[23 25]" {
		t.Errorf("ParamOIDs %v, want [23 25] (int4, text)", sd.ParamOIDs)
	}
	if err := c2.QueryRow(ctx, "by_id", 0, cpSSN(1)).Scan(&id); err != nil || id != 1 {
		t.Errorf("prepared by_id: id %d, %v", id, err)
	}
	got := preparedTexts(t, ctx, c2)
	if !slices.ContainsFunc(got, checkedText("SELECT id FROM people WHERE id > $1 AND ssn = ", "$2,$3")) {
		t.Errorf("two live versions: prepared %q", got)
	}

	// A write whose WHERE compares a parameter: the row of version 1 is
	// found and moves to version 2.
	tag, err := c2.Exec(ctx, "UPDATE people SET ssn = $1 WHERE ssn = $1", cpSSN(1))
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("UPDATE: %v, %v", tag, err)
	}
	if err := own.QueryRow(ctx, "SELECT ssn FROM people WHERE id = 1").Scan(&ssn); err != nil {
		t.Fatal(err)
	}
	if info, err := keys.Inspect([]byte(ssn)); err != nil || info.KeyVersion != 2 {
		t.Errorf("updated cell: version %d, %v", info.KeyVersion, err)
	}
}

// checkedText matches the text of a parameter compared with cells, with
// the operator check phiguard makes a last item no cell equals: head,
// then `ANY(ARRAY[items, CASE WHEN (SELECT <check>) THEN '~phg~!' END])`.
func checkedText(head, items string) func(string) bool {
	return func(text string) bool {
		rest, ok := strings.CutPrefix(text, head+"ANY(ARRAY["+items+", CASE WHEN (SELECT CASE WHEN ")
		return ok && strings.HasSuffix(rest, " END) THEN '~phg~!' END])") && strings.Contains(rest, " AS pg_catalog.regoperator)")
	}
}

// preparedTexts lists the statements the connection's backend holds
// prepared, as PostgreSQL received them.
func preparedTexts(t *testing.T, ctx context.Context, conn *pgx.Conn) []string {
	t.Helper()
	rows, _ := conn.Query(ctx, "SELECT statement FROM pg_prepared_statements", pgx.QueryExecModeSimpleProtocol)
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		texts[i] = strings.TrimSpace(texts[i])
	}
	return texts
}
