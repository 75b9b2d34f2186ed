package integration

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
)

// TestHavingMinMaxConstantsNeverReachDatabase: the constants a HAVING
// compares min or max of an encrypted column with are read by phiguard
// (the HAVING is cut from the text, a parameter sent as NULL), as a
// WHERE's; every byte phiguard sends the database is read, and the
// answers are the plaintext tables'.
func TestHavingMinMaxConstantsNeverReachDatabase(t *testing.T) {
	t.Parallel()
	relay := startByteRelay(t)
	f := newSortFixture(t, 80, func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	})
	relay.take() // the fixture's own writes
	secrets := []string{"Havleak", "1938-02-27", "66.66", "Parhavleak", "1942-07-23", "Ilhavleak", "Tagleak"}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT grp, max(name), min(born), min(score) FROM %[1]s GROUP BY grp HAVING max(name) <> 'Havleak' AND min(born) > '1938-02-27' AND min(score) < 66.66", nil},
		{"SELECT grp, max(name), count(*) FROM %[1]s GROUP BY grp HAVING max(name) IS DISTINCT FROM $1 OR count(*) > 2 ORDER BY grp", []any{"Parhavleak"}},
		{"SELECT name, min(born) FROM %[1]s GROUP BY name HAVING min(born) BETWEEN DATE '1938-02-27' AND $1", []any{"1942-07-23"}},
		{"SELECT grp, max(name), max(tag) FROM %[1]s GROUP BY grp HAVING NOT max(name) ILIKE '%%Ilhavleak%%' AND max(tag) <> $1", []any{"Tagleak"}},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	noSecretsSent(t, relay.take(), []string{f.people[1]}, secrets)
}

// TestHavingMinMaxRefusals: the HAVING shapes on min and max phiguard
// does not evaluate are refused (0A000) naming the column and the
// construct, in both protocols.
func TestHavingMinMaxRefusals(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 20, nil)
	for _, c := range []struct{ sql, words, col string }{
		{"SELECT grp, max(born), count(*) FROM %[1]s GROUP BY grp HAVING max(born) > $1 OR count(*) > $1", "a HAVING on min() or max() whose parameter is also used elsewhere", "born"},
		{"SELECT name, max(born), min(born) FROM %[1]s GROUP BY name HAVING max(born) > min(born)", "function max()", "born"},
		{"SELECT name, max(born) FROM %[1]s GROUP BY name HAVING min(born) > '1950-01-01'", "function max()", "born"},
		{"SELECT name, max(born) FROM %[1]s GROUP BY name HAVING max(born) > now()", "function max()", "born"},
	} {
		for _, mode := range bothModes {
			var args []any
			if c.words[0] == 'a' { // pgx writes it into the simple protocol's text: one parameter fewer
				if mode == pgx.QueryExecModeSimpleProtocol {
					continue
				}
				args = append(args, 3)
			}
			_, err := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, pgx.TextFormatCode, args...)
			wantCode(t, err, "0A000", c.words)
			wantCode(t, err, "0A000", "."+c.col+" ")
		}
	}
}

// TestHavingMinMaxBesideTerms: a WHERE whose filters send search term
// conjuncts (search_state ready) beside a HAVING on min and max: the
// plaintext tables' groups, in both protocols, and the terms sent. The
// HAVING's comparisons are filters of the plan too, which the term
// conjuncts' placement must pass over (it failed the statement before).
func TestHavingMinMaxBesideTerms(t *testing.T) {
	t.Parallel()
	f, relay := newTermSortFixture(t, 120)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT grp, max(name), count(*) FROM %[1]s WHERE born > '1950-01-01' GROUP BY grp HAVING max(name) >= 'S' OR count(*) < 20", nil},
		{"SELECT grp, min(born), max(score) FROM %[1]s WHERE name >= $1 GROUP BY grp HAVING min(born) < $2 AND max(score) > 0", []any{"M", "1945-01-01"}},
		{"SELECT tag, min(name) FROM %[1]s WHERE born BETWEEN $1 AND '1990-01-01' GROUP BY tag HAVING NOT min(name) LIKE 'S%%'", []any{"1940-06-01"}},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	if sent := relay.take(); !bytes.Contains(sent, []byte("phiguard.term_ord_v1(")) {
		t.Fatal("no order term conjunct sent: the statements did not use the terms")
	}
}

// TestHavingMinMaxUnderLocale: under en_US (a libc collation other than
// C), a HAVING compares max and min of an encrypted text column as
// PostgreSQL does, under the column's collation: the plaintext tables'
// groups in both protocols, where the byte order gives another answer.
// CI installs the locale (.ci/run); a machine without it skips.
func TestHavingMinMaxUnderLocale(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 200, nil)
	ctx := testContext(t)
	su := superuser(t)
	var coll string
	if err := su.QueryRow(ctx, `SELECT coalesce(min(collname), '') FROM pg_collation WHERE collname = 'en_US' AND collprovider = 'c'`).Scan(&coll); err != nil {
		t.Fatal(err)
	}
	if coll == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the test cluster has no en_US collation: .ci/run installs the locale before initdb")
		}
		t.Skip("no en_US locale on this machine (locale-gen en_US.UTF-8)")
	}
	for i := range 2 {
		if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE "en_US"`, f.people[i])); err != nil {
			t.Fatal(err)
		}
	}
	const q = "SELECT grp, max(name), min(name), count(*) FROM %[1]s WHERE id %% 7 = 0 GROUP BY grp HAVING max(name) < 'b' OR min(name) >= 'smith'"
	if _, err := rowsAfterCollationDDL(t, f.via, f.sql("SELECT grp, max(name) FROM %[1]s GROUP BY grp", 1)); err != nil {
		t.Fatal(err) // the session's catalog read again after the DDL
	}
	f.sameRows(t, q)
	byBytes, err := rowsRaw(t, f.dir, f.sql(strings.ReplaceAll(q, "(name)", `(name COLLATE "C")`), 0), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := rowsRaw(t, f.dir, f.sql(q, 0), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil || sortedLines(want) == sortedLines(byBytes) {
		t.Fatalf("en_US and the byte order give the same groups (%v): the test proves nothing\n%s", err, want)
	}
	f.sameRows(t, "SELECT grp, min(name) AS m, max(name) FROM %[1]s GROUP BY grp HAVING min(name) BETWEEN 'adams' AND 'Smith' OR NOT max(name) >= $1", "o'neil")
}
