package integration

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// TestFilterEncryptedKeepsOrder: without ORDER BY, the rows phiguard
// filters come in the order the database sent them (that of the same
// SELECT without the WHERE, read through phiguard and filtered here),
// and LIMIT/OFFSET cut that order after the WHERE.
func TestFilterEncryptedKeepsOrder(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 200, nil)
	rows, err := f.via.Query(testContext(t), f.sql("SELECT id, name FROM %[1]s", 1), pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for rows.Next() {
		var id int
		var name *string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		if name != nil && *name > "Smith" { // C collation: bytes
			want = append(want, fmt.Sprint(id))
		}
	}
	if rows.Err() != nil || len(want) < 20 {
		t.Fatalf("%d rows (%v)", len(want), rows.Err())
	}
	ids := func(q string, mode pgx.QueryExecMode) []string {
		got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		lines := strings.Split(strings.TrimSpace(got), "\n")
		return lines[:len(lines)-1] // the command tag
	}
	for _, mode := range bothModes {
		if got := ids("SELECT id FROM %[1]s WHERE name > 'Smith'", mode); !slices.Equal(got, want) {
			t.Fatalf("%v: through phiguard %v, want the database's order %v", mode, got, want)
		}
		if got := ids("SELECT id FROM %[1]s WHERE name > 'Smith' LIMIT 5 OFFSET 3", mode); !slices.Equal(got, want[3:8]) {
			t.Fatalf("%v: LIMIT 5 OFFSET 3 gave %v, want %v", mode, got, want[3:8])
		}
	}
}

// TestFilterEncryptedRefusals: what stays refused, what PostgreSQL
// rejects as it would, and the caps counting only the rows the WHERE
// keeps.
func TestFilterEncryptedRefusals(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	for _, c := range []struct{ sql, code, words string }{
		// Under OR, beside a plaintext operand the database would compute
		// for rows PostgreSQL's OR does not evaluate it on (1/grp), a
		// function, a subquery (search_filter_tree_test.go has what runs).
		{"SELECT id FROM %[1]s WHERE name > 'S' OR 1/grp > 0", "0A000", "operator >"},
		{"SELECT id FROM %[1]s WHERE name ILIKE 'S%%' OR abs(grp) = 1", "0A000", "operator ILIKE"},
		{"SELECT id FROM %[1]s WHERE name ~ '^S'", "0A000", "operator ~"},
		{"SELECT id FROM %[1]s WHERE name LIKE 'S%%' OR id IN (SELECT id FROM %[1]s)", "0A000", "operator LIKE"},
		{"SELECT id FROM %[1]s WHERE born LIKE '19%%'", "0A000", "operator LIKE"},
		{"SELECT id FROM %[1]s WHERE initcap(name) = 'Smith'", "0A000", "function initcap()"},
		// Inside IN (SELECT ...), with the left operand unqualified: it
		// could bind inside (search_subfilter_test.go has what runs).
		{"SELECT id FROM %[1]s WHERE id IN (SELECT id FROM %[1]s WHERE born > '1950-01-01')", "0A000", "inside IN (SELECT ...) whose left operand names a column without its table"},
		// A HAVING phiguard does not evaluate (search_having_test.go has
		// what runs).
		{"SELECT grp, count(*) FROM %[1]s WHERE born > '1950-01-01' GROUP BY grp HAVING sum(grp) > 1", "0A000", "operator >"},
		// Compared in another type than the column's: refused, not guessed.
		{"SELECT id FROM %[1]s WHERE score > 1.5::float8", "0A000", "of another type"},
		{"SELECT id FROM %[1]s WHERE born > '1950-01-01 10:00'::timestamp", "0A000", "of another type"},
		// Past the row cap, counting the rows the WHERE keeps.
		{"SELECT id FROM %[1]s WHERE name IS DISTINCT FROM 'nobody'", "54000", "limits.proxy_sort_rows"},
	} {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, pgx.TextFormatCode)
			wantCode(t, err, c.code, c.words)
		}
	}
	var or []string
	for j := range 40 {
		or = append(or, fmt.Sprintf("name = 'n%d'", j))
	}
	if _, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[1]s WHERE "+strings.Join(or, " OR "), 1), pgx.QueryExecModeSimpleProtocol, 0); err == nil ||
		!strings.Contains(err.Error(), "more than 32 comparisons") {
		t.Fatalf("an OR of 40 comparisons on an encrypted column: %v", err)
	}
	f.same(t, "SELECT id FROM %[1]s WHERE name = 'Zhang' OR name IS NULL ORDER BY id") // under the cap after the WHERE
	f.same(t, "SELECT id FROM %[1]s WHERE name = 'Zhang' ORDER BY id")                 // under the cap after the WHERE
	// A constant PostgreSQL cannot read as the column's type: its error
	// code, read by phiguard (the constant never reaches the database),
	// with a message that does not repeat the value; one phiguard does
	// not read ('garbage', which could be a spelling PostgreSQL reads
	// that phiguard does not) is refused.
	for _, c := range []struct{ value, code string }{{"1950-02-30", "22008"}, {"1950-13-01", ""}, {"garbage", "0A000"}} {
		for _, mode := range bothModes {
			q := "SELECT id FROM %[1]s WHERE born > '" + c.value + "'"
			_, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0)
			_, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, 0)
			var wpe, gpe *pgconn.PgError
			want := c.code
			if want == "" && errors.As(werr, &wpe) {
				want = wpe.Code
			}
			if werr == nil || !errors.As(gerr, &gpe) || gpe.Code != want || strings.Contains(gpe.Message, c.value) {
				t.Fatalf("%s (%v): through phiguard %v, directly %v", c.value, mode, gerr, werr)
			}
		}
	}
	// Under an ICU collation, a range is refused (libc's:
	// TestSortEncryptedUnderLocale).
	ctx := testContext(t)
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN city TYPE text COLLATE "und-x-icu"`, f.addresses[1])); err != nil {
		t.Fatal(err)
	}
	f.via = f.p.app(t) // a session reading its catalog after the DDL
	_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[2]s WHERE city >= 'B'", 1), pgx.QueryExecModeCacheStatement, 0)
	wantCode(t, err, "0A000", "under collation")

	// LIKE is matched as in a UTF8 database only: in another, _ is a
	// byte, not a character.
	db := uniqueName("sqlascii")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	other := connect(t, f.p.url(appUser, appPassword, db))
	if _, err := other.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, name text, born text, score text, tag text, grp int)", f.people[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, name) VALUES (1, 'Smith')", f.people[1])); err != nil {
		t.Fatal(err)
	}
	_, err = rowsRaw(t, other, f.sql("SELECT id FROM %[1]s WHERE name LIKE 'S%%'", 1), pgx.QueryExecModeCacheStatement, 0)
	wantCode(t, err, "0A000", "encoded SQL_ASCII")
	if got, err := rowsRaw(t, other, f.sql("SELECT id FROM %[1]s WHERE name >= 'S'", 1), pgx.QueryExecModeCacheStatement, 0); err != nil || !strings.HasPrefix(got, "1\n") {
		t.Fatalf("a comparison in a SQL_ASCII database: %q %v", got, err)
	}
}

// TestFilterEncryptedUnderAccessRules: a role filters by a column it sees
// in plaintext, within its row rules; one that sees the column masked,
// pseudonymized or not at all cannot filter by it (42501).
func TestFilterEncryptedUnderAccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	for _, mode := range bothModes {
		for _, where := range []string{"p.last >= 'M' AND p.birthdate < '1980-01-01'", "p.last ILIKE '%A%' AND lower(p.first) >= 'c'",
			"(p.last >= 'M' OR p.birthdate < '1980-01-01')", "(NOT (p.last ILIKE '%A%') OR p.first IS NULL)"} { // planner_filter_tree.go
			got, err := rowsRaw(t, alice, "SELECT p.id, p.last FROM patients p WHERE "+where+" ORDER BY p.last, p.id", mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
			want, err := rowsRaw(t, admin, "SELECT p.id, p.last FROM patients p WHERE p.id IN "+aliceSees+" AND "+where+" ORDER BY p.last, p.id", mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
			if got != want || strings.Count(got, "\n") < 2 {
				t.Fatalf("%v: dr_alice\n%s\nadmin's filter\n%s", mode, got, want)
			}
		}
	}
	biller, research := p.as(t, "biller"), p.as(t, "researcher")
	wantCodes(t, []codeCase{
		{biller, "SELECT id FROM patients WHERE ssn > '5'", "42501"},
		{biller, "SELECT id FROM patients WHERE ssn BETWEEN '1' AND '5' ORDER BY id", "42501"},
		{biller, "SELECT id FROM patients WHERE id < 3 OR NOT ssn > '5'", "42501"},
		{research, "SELECT id FROM patients WHERE id < 3 OR first >= 'M'", "42501"},
		{research, "SELECT id FROM patients WHERE first >= 'M'", "42501"},
		// Folding case is searching too.
		{biller, "SELECT id FROM patients WHERE ssn ILIKE '5%'", "42501"},
		{biller, "SELECT id FROM patients WHERE lower(ssn) = '5'", "42501"},
		{research, "SELECT id FROM patients WHERE first ~~* 'm%'", "42501"},
		{research, "SELECT id FROM patients WHERE upper(first) = upper('mary') ORDER BY id", "42501"},
		{research, "SELECT id FROM patients WHERE birthplace ILIKE '%a%'", "42501"}, // nulled
		{research, "SELECT id FROM patients WHERE lower(birthplace) = 'boston'", "42501"},
		{biller, "SELECT id FROM patients WHERE zip NOT ILIKE '9%'", "42501"}, // masked
		{biller, "SELECT id FROM patients WHERE last >= 'M' AND first < 'K'", ""},
		{biller, "SELECT id FROM patients WHERE last ILIKE '%a%' AND lower(first) < 'k'", ""},
	})
}

// TestFilterEncryptedComputedSelectList: PostgreSQL computes the select
// list only for the rows its WHERE keeps; the database, sent the
// statement without the conjuncts phiguard evaluates, would compute it
// for the rows they drop too (100 / 0 would fail where PostgreSQL returns
// no row), and its ORDER BY keys likewise. Such a statement is refused,
// naming what it computes; a statement phiguard only sorts keeps its
// computed select list.
func TestFilterEncryptedComputedSelectList(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	q := "SELECT id, 100 / (grp - grp) FROM %[1]s WHERE name = 'nobody'"
	for _, mode := range bothModes {
		if got, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0); err != nil || strings.TrimSpace(got) != "(SELECT 0)" {
			t.Fatalf("directly (%v): %q %v", mode, got, err)
		}
		_, err := rowsRaw(t, f.via, f.sql(q, 1), mode, 0)
		wantCode(t, err, "0A000", "select list computing operator /")
		_, err = rowsRaw(t, f.via, f.sql("SELECT nextval('nope'), id FROM %[1]s WHERE born < '1990-01-01'", 1), mode, 0)
		wantCode(t, err, "0A000", "select list computing function nextval()")
		// An ORDER BY key: phiguard's hidden rank column computes it for every row.
		q := "SELECT id FROM %[1]s WHERE name = 'nobody' ORDER BY 100 / (grp - grp)"
		if got, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0); err != nil || strings.TrimSpace(got) != "(SELECT 0)" {
			t.Fatalf("directly (%v): %q %v", mode, got, err)
		}
		_, err = rowsRaw(t, f.via, f.sql(q, 1), mode, 0)
		wantCode(t, err, "0A000", "ORDER BY computing operator /")
	}
	f.sameRows(t, "SELECT *, 7, 'x' FROM %[1]s WHERE name > 'S'")
	f.same(t, "SELECT id, grp * 2, 'x' || id FROM %[1]s ORDER BY name, id")
}
