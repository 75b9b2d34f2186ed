package integration

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam12VolatileLeftOfIn: X of X IN (SELECT k ... WHERE <filter
// on a cell>) is copied into the hidden array's subquery, where the
// database evaluates it once for every inner row of every outer row, on
// top of the conjunct it still evaluates itself. A function with side
// effects or a volatile one in X (nextval, random) then ran more often
// than PostgreSQL runs it, and its values differed between the conjunct
// and the array: X = nextval('s') IN (...) advanced the sequence 30 +
// 30 x 60 times where PostgreSQL advances it 30 times. phiguard now
// refuses such an X (0A000), as it refuses such a function inside the
// subquery; an X of columns and side-effect-free built-ins still runs.
func TestRedTeam12VolatileLeftOfIn(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	ctx := testContext(t)
	seqs := [2]string{uniqueName("rt12seq_plain"), uniqueName("rt12seq_enc")}
	su := superuser(t)
	for _, s := range seqs {
		if _, err := su.Exec(ctx, "CREATE SEQUENCE "+s+"; GRANT ALL ON SEQUENCE "+s+" TO "+appUser); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range append(slices.Clone(nextvalStatements),
		"SELECT o.id FROM %[1]s o WHERE (o.id + floor(random() * 3)::int) IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') ORDER BY 1",
		"SELECT o.id FROM %[1]s o WHERE NOT o.grp + floor(random() * 2)::int IN (SELECT s.grp FROM %[1]s s WHERE s.name LIKE 'S%%') ORDER BY 1",
	) {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, sprintfSides(q, f.people[1], f.addresses[1], seqs[1]), mode, pgx.TextFormatCode)
			if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "0A000" {
				t.Errorf("%v: %s: want 0A000, got %v", mode, q, err)
			}
		}
	}
	var advanced, direct int64
	for _, q := range nextvalStatements {
		for _, mode := range bothModes {
			if _, err := rowsRaw(t, f.dir, sprintfSides(q, f.people[0], f.addresses[0], seqs[0]), mode, pgx.TextFormatCode); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := su.QueryRow(ctx, "SELECT (SELECT last_value FROM "+seqs[1]+"), (SELECT last_value FROM "+seqs[0]+")").Scan(&advanced, &direct); err != nil {
		t.Fatal(err)
	}
	t.Logf("the nextval statements advanced the sequence to %d directly", direct)
	if advanced > 1 {
		t.Errorf("the sequence advanced to %d through phiguard: refused statements ran", advanced)
	}
	// Columns and side-effect-free built-ins left of IN still run.
	f.sameRows(t, "SELECT o.id FROM %[1]s o WHERE abs(o.id - 3) IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%')")
	f.sameRows(t, "SELECT o.id FROM %[1]s o WHERE coalesce(o.grp, 0) NOT IN (SELECT s.sequence FROM %[2]s s WHERE s.city = 'Bern' AND s.sequence IS NOT NULL)")
}

// nextvalStatements call nextval left of IN, NOT IN and = ANY.
var nextvalStatements = []string{
	"SELECT o.id FROM %[1]s o WHERE (o.id + 0 * nextval('%[3]s')) IN (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') ORDER BY 1",
	"SELECT o.id FROM %[1]s o WHERE nextval('%[3]s') = ANY (SELECT s.person FROM %[2]s s WHERE s.city LIKE 'B%%') ORDER BY 1",
	"SELECT o.id FROM %[1]s o WHERE (o.id + 0 * nextval('%[3]s')) NOT IN (SELECT s.person FROM %[2]s s WHERE s.city = 'Bern') ORDER BY 1",
	// NOT IN's array is correlated: run once per outer row, where
	// PostgreSQL runs the uncorrelated subquery once.
	"SELECT o.id FROM %[1]s o WHERE o.id NOT IN (SELECT s.person FROM %[2]s s WHERE s.city = 'Bern' AND s.id > 0 * nextval('%[3]s')) ORDER BY 1",
}

// sprintfSides fills a statement's tables and sequence.
func sprintfSides(q string, people, addresses, seq string) string {
	return fmt.Sprintf(q, people, addresses, seq)
}
