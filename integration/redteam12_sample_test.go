package integration

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// TestRedTeam12TableSample: a table named with TABLESAMPLE is the table.
// phiguard's planner knew FROM items of tables, joins and subqueries, and
// planned a sampled table as an opaque function: its encrypted columns
// were unknown names. WHERE s.name = 'Smith' (randomized) or s.tag = 't1'
// (deterministic) then went to the database in clear and compared with
// the cells (no rows, where the plaintext table has some), length(s.name)
// measured the ciphertext, and GROUP BY s.name grouped by cell. Now the
// answers are the plaintext table's (SYSTEM (100) and BERNOULLI (100)
// sample every row), the constants reach no byte sent to the database,
// and what cannot run on a cell is refused.
func TestRedTeam12TableSample(t *testing.T) {
	t.Parallel()
	relay := startByteRelay(t)
	f := newSortFixture(t, 60, func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	})
	relay.take() // the fixture's own writes
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT s.id FROM %[1]s s TABLESAMPLE SYSTEM (100) WHERE s.name <> 'Sampleak' AND s.name LIKE 'S%%'", nil},
		{"SELECT id, name FROM %[1]s TABLESAMPLE BERNOULLI (100) WHERE name = $1", []any{"Smith"}},
		{"SELECT s.id, s.tag FROM %[1]s s TABLESAMPLE SYSTEM (100) REPEATABLE (3) WHERE s.tag = 't1' OR s.tag = 'Tagleak'", nil},
		{"SELECT count(*) FROM %[1]s s TABLESAMPLE SYSTEM (100) WHERE s.tag = 't2'", nil},
		{"SELECT s.name, count(*) FROM %[1]s s TABLESAMPLE SYSTEM (100) GROUP BY s.name", nil},
		{"SELECT s.id, s.born FROM %[1]s s TABLESAMPLE SYSTEM (100) WHERE s.born < '1961-02-03' ORDER BY s.born, s.id", nil},
		{"SELECT a.id FROM %[2]s a JOIN %[1]s s TABLESAMPLE SYSTEM (100) ON s.id = a.person WHERE s.name ILIKE $1", []any{"%%mi%%"}},
		{"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s TABLESAMPLE SYSTEM (100) REPEATABLE (0) WHERE s.city LIKE 'B%%' AND s.city <> 'Cityleak')", nil},
		{"SELECT o.id FROM %[1]s o WHERE NOT EXISTS (SELECT 1 FROM %[2]s s TABLESAMPLE BERNOULLI (100) WHERE s.person = o.id AND s.city = 'Bern')", nil},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	noSecretsSent(t, relay.take(), []string{f.people[1], "TABLESAMPLE"}, []string{"Sampleak", "Tagleak", "Cityleak", "1961-02-03", "'t1'", "'t2'"})
	for _, q := range []string{
		"SELECT s.id, length(s.name) FROM %[1]s s TABLESAMPLE SYSTEM (100)",
		"SELECT s.id FROM %[1]s s TABLESAMPLE SYSTEM (100) WHERE upper(s.name) || 'x' = 'SMITHx'",
		"UPDATE %[2]s a SET sequence = 7 FROM %[1]s s TABLESAMPLE SYSTEM (100) WHERE s.id = a.person AND s.name = 'Smith'",
		// Sampled anew in the hidden array: other rows than the conjunct's.
		"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s TABLESAMPLE BERNOULLI (50) WHERE s.city LIKE 'B%%')",
		"SELECT o.id FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city = 'Bern' AND s.id IN (SELECT x.id FROM %[2]s x TABLESAMPLE SYSTEM (50)))",
	} {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "0A000" {
				t.Errorf("%v: %s: want 0A000, got %v", mode, q, err)
			}
		}
	}
}

// TestRedTeam12RepeatableSampleInSubquery: with REPEATABLE both
// evaluations of a sampled subquery pick the same rows, so phiguard's
// answer to X IN (SELECT ... TABLESAMPLE BERNOULLI (40) REPEATABLE (s)
// WHERE city LIKE ...) is the one computed from the sample itself, as
// phiguard reads it in clear.
func TestRedTeam12RepeatableSampleInSubquery(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 80, nil)
	for seed := range 3 {
		sample, err := rowsRaw(t, f.via, f.sql(fmt.Sprintf("SELECT s.person, s.city FROM %%[2]s s TABLESAMPLE BERNOULLI (40) REPEATABLE (%d)", seed), 1),
			pgx.QueryExecModeSimpleProtocol, pgx.TextFormatCode)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, line := range strings.Split(sample, "\n") {
			if person, city, ok := strings.Cut(line, " | "); ok && strings.HasPrefix(city, "B") && !slices.Contains(want, person) {
				want = append(want, person)
			}
		}
		slices.SortFunc(want, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + strings.Compare(a, b) })
		if len(want) < 3 {
			t.Fatalf("seed %d: only %d people in the sample", seed, len(want))
		}
		q := fmt.Sprintf("SELECT o.id FROM %%[1]s o WHERE o.id IN (SELECT s.person FROM %%[2]s s TABLESAMPLE BERNOULLI (40) REPEATABLE (%d) WHERE s.city LIKE 'B%%%%') ORDER BY 1", seed)
		for _, mode := range bothModes {
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
			got = strings.TrimSuffix(got[:strings.LastIndex(got, "(")], "\n")
			if got != strings.Join(want, "\n") {
				t.Errorf("seed %d (%v): through phiguard\n%s\nfrom the sample\n%s", seed, mode, got, strings.Join(want, "\n"))
			}
		}
	}
}
