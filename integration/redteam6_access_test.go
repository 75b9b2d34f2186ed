package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam6AccessRules: a column a role sees masked, nulled, denied or
// pseudonymized must not order its rows, however the ORDER BY reaches it
// (a hidden key, an alias, a subquery's or CTE's output, a join); each
// form is refused with 42501 or 0A000 — never an order the rule hides.
func TestRedTeam6AccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	biller, research := p.as(t, "biller"), p.as(t, "researcher")
	for _, c := range []struct {
		conn *pgx.Conn
		sql  string
	}{
		{research, "SELECT id FROM patients ORDER BY birthdate, id LIMIT 1"},
		{research, "SELECT first FROM patients ORDER BY birthdate DESC NULLS LAST LIMIT 1"},
		{research, "SELECT p.first FROM patients p JOIN encounters e ON e.patient = p.id ORDER BY p.birthdate, e.id LIMIT 3"},
		{research, "WITH c AS (SELECT first, birthdate FROM patients) SELECT c.first FROM c ORDER BY c.birthdate LIMIT 1"},
		{research, "SELECT s.first FROM (SELECT first, birthdate AS b FROM patients) s ORDER BY s.b LIMIT 1"},
		{research, "SELECT birthdate AS b, first FROM patients ORDER BY b, first LIMIT 1"},
		{research, "SELECT first FROM patients ORDER BY last, first LIMIT 1"},
		{research, "SELECT first, last FROM patients ORDER BY 2 LIMIT 1"},
		{biller, "SELECT first FROM patients ORDER BY ssn DESC LIMIT 1"},
		{biller, "SELECT p.first FROM patients p ORDER BY p.ssn, p.first LIMIT 1"},
		{biller, "SELECT first FROM patients ORDER BY passport LIMIT 1"},
		{biller, "SELECT s.first FROM (SELECT first, ssn AS k FROM patients) s ORDER BY s.k LIMIT 1"},
		{biller, "SELECT first, ssn FROM patients ORDER BY 2 LIMIT 1"},
	} {
		for _, mode := range bothModes {
			out, err := rowsRaw(t, c.conn, c.sql, mode, pgx.TextFormatCode)
			if err == nil {
				t.Errorf("%s (%v): answered\n%s", c.sql, mode, out)
				continue
			}
			wantCode(t, err, "42501", "")
		}
	}
	// What the roles see in full still sorts. (SELECT (SELECT 1 AS ssn),
	// first ... ORDER BY ssn is refused for billing although it names the
	// entry, not the masked column: the access rules resolve names on
	// their own, which refuses too much, never too little.)
	for _, c := range []struct {
		conn *pgx.Conn
		sql  string
	}{
		{biller, "SELECT first, last, ssn FROM patients ORDER BY last DESC, first LIMIT 5"},
	} {
		if _, err := rowsRaw(t, c.conn, c.sql, pgx.QueryExecModeCacheStatement, pgx.TextFormatCode); err != nil {
			t.Errorf("%s: %v", c.sql, err)
		}
	}
}
