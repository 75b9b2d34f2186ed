package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const rt31bVersionsPolicy = `
version: 1
tables:
  public.people:
    columns:
      ssn: {mode: deterministic, key: v-ssn, type: text}
      mrn: {mode: deterministic, key: v-mrn, type: integer}
      name: {mode: randomized, key: v-name, type: text}
`

// TestRedTeam31bSortedReadAcrossKeyVersions: during a rotation (key
// versions 1 and 2 live) a value has two cells, and a parameter compared
// with a deterministic column stands for both (CompareItem: `ssn =
// ANY(ARRAY[$1,$3, <check item>])`). A read phiguard sorts places the
// check of such a comparison in its operand as well as in the gate
// (sortedPlacements): the same rows as a plaintext twin for every form,
// NULL included, in both protocols, and after seven executions of one
// prepared statement (a generic plan).
func TestRedTeam31bSortedReadAcrossKeyVersions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := uniqueName("rt31bver")
	if err := pg.CreateDatabase(ctx, db, appUser); err != nil {
		t.Fatal(err)
	}
	own := connect(t, directURL(appUser, appPassword, db))
	if _, err := own.Exec(ctx, `CREATE TABLE people (id int PRIMARY KEY, ssn text, mrn text, name text);
CREATE TABLE plain (id int PRIMARY KEY, ssn text, mrn int, name text)`); err != nil {
		t.Fatal(err)
	}
	pol, err := sqlrewrite.ParsePolicy([]byte(rt31bVersionsPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	dks := []keys.DataKey{newDataKey(t, "v-ssn", 1), newDataKey(t, "v-mrn", 1), newDataKey(t, "v-name", 1)}
	p1 := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: mustKeyring(t, dks)}, quiet: true})
	names := []string{"b", "a", "c", "a", "B", ""}
	insert := func(conn *pgx.Conn, ids ...int) {
		t.Helper()
		for _, id := range ids {
			var ssn, mrn, name any = cpSSN(id % 4), cpMRN(id % 3), names[id%len(names)]
			if id%5 == 0 {
				ssn = nil
			}
			for _, q := range []struct {
				c   *pgx.Conn
				tab string
			}{{conn, "people"}, {own, "plain"}} {
				if _, err := q.c.Exec(ctx, "INSERT INTO "+q.tab+" (id, ssn, mrn, name) VALUES ($1, $2, $3, $4)", id, ssn, mrn, name); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	insert(connect(t, p1.url(appUser, appPassword, db)), 1, 2, 3, 4, 5, 6)
	dks = append(dks, newDataKey(t, "v-ssn", 2), newDataKey(t, "v-mrn", 2), newDataKey(t, "v-name", 2))
	p2 := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: mustKeyring(t, dks)}, quiet: true})
	url2 := p2.url(appUser, appPassword, db)
	insert(connect(t, url2), 7, 8, 9, 10, 11, 12, 13)

	one, three := cpSSN(1), cpSSN(3)
	cases := []struct {
		sql     string
		args    []any
		refused bool // 0A000: a value left of the column or in parentheses has one place for one cell
	}{
		{"SELECT id, name FROM %s WHERE ssn = $1 ORDER BY name, id", []any{one}, false},
		{"SELECT id, name FROM %s WHERE ssn = $1 ORDER BY name, id", []any{nil}, false},
		{"SELECT id, name FROM %s WHERE $1 = ssn ORDER BY name, id", []any{one}, true},
		{"SELECT id, name FROM %s WHERE ssn = ($1) ORDER BY name, id", []any{three}, true},
		{"SELECT id, name FROM %s WHERE (ssn) = $1 ORDER BY name, id", []any{three}, false},
		{"SELECT id, name FROM %s WHERE ssn IN ($1) ORDER BY name, id", []any{one}, false},
		{"SELECT id, name FROM %s WHERE ssn IN ($1, $2) ORDER BY name, id", []any{one, three}, false},
		{"SELECT id, name FROM %s WHERE ssn IN ($1, $2) ORDER BY name, id", []any{one, nil}, false},
		{"SELECT id, name FROM %s WHERE ssn NOT IN ($1) ORDER BY name, id", []any{one}, false},
		{"SELECT id, name FROM %s WHERE ssn <> $1 ORDER BY name, id", []any{three}, false},
		{"SELECT id, name FROM %s WHERE NOT (ssn = $1) ORDER BY name, id", []any{three}, false},
		{"SELECT id, name FROM %s WHERE ssn = $1 OR mrn = $2 ORDER BY name, id", []any{one, cpMRN(2)}, false},
		{"SELECT id, name FROM %s WHERE mrn = $1 ORDER BY name, id", []any{cpMRN(1)}, false},
		{"SELECT id, name FROM %s WHERE ssn = $1 AND mrn = $2 ORDER BY name DESC, id LIMIT 2", []any{one, cpMRN(1)}, false},
		{"SELECT id, name FROM %s WHERE ssn = $1 OR ssn = $1 ORDER BY name, id", []any{three}, false},
		{"SELECT id, name FROM %s WHERE ssn = '" + cpSSN(1) + "' ORDER BY name, id", nil, false},
		{"SELECT id, name FROM %s WHERE ssn IN ('" + cpSSN(1) + "', $1) ORDER BY name, id", []any{three}, false},
		{"SELECT id, name FROM %s WHERE ssn = NULL ORDER BY name, id", nil, false},
		{"SELECT id, name FROM (SELECT * FROM %s WHERE ssn = $1) s ORDER BY name, id", []any{one}, false},
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec}
	via := connect(t, url2)
	for _, c := range cases {
		for _, mode := range modes {
			runs := 1
			if mode == pgx.QueryExecModeCacheStatement {
				runs = 7 // the plan cache tries a generic plan after five
			}
			for r := 0; r < runs; r++ {
				want, err := rowsRaw(t, own, fmt.Sprintf(c.sql, "plain"), mode, 0, c.args...)
				if err != nil {
					t.Fatalf("%s directly: %v", c.sql, err)
				}
				got, err := rowsRaw(t, via, fmt.Sprintf(c.sql, "people"), mode, 0, c.args...)
				if c.refused {
					wantCode(t, err, "0A000", "each value has 2 cells in the column now")
					break
				}
				if err != nil {
					t.Errorf("%s %v (%v) run %d through phiguard: %v", c.sql, c.args, mode, r, err)
					break
				}
				if got != want {
					t.Errorf("%s %v (%v) run %d: through phiguard\n%s\ndirectly\n%s", c.sql, c.args, mode, r, got, want)
					break
				}
			}
		}
	}
}
