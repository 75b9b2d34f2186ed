package integration

import "testing"

// Red team 39: the lack probes in a WHERE the proxy filters (41aadfe):
// the proxy's cut skips the probes first in the WHERE
// (sqlrewrite/sort_probe_skip.go), at the top level and in an IN or
// EXISTS subquery's WHERE, and the rewrite's check counts the
// conjuncts past them. Cases run through rt38Check (redteam38_test.go).

// rt39Fake is a conjunct a client writes of the probe's form: true.
const rt39Fake = "(SELECT NULL FROM (SELECT 1) AS phiguard_lacks) IS NULL"

// TestRedTeam39ClientProbeShifts: a client's conjunct of the probe's
// form, first in the WHERE, followed by a parenthesised AND holding a
// filter. On 41aadfe the cut skipped it as a probe, and behind it (a AND
// b) AND c flattened to three conjuncts, as the plan counts the client's:
// the cut was shifted by one with no check failing, name = 'Smith' went
// to the database (its constant too) on the ciphertext and (id > 0 AND
// id < 50) was sent as true: PostgreSQL 3 rows (4, 12, 23), phiguard 0,
// in every protocol. Now the cut skips the plan's probes only
// (SortPlan.probes, sort_probe_skip.go).
func TestRedTeam39ClientProbeShifts(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.rt38Hole(t, rt38Case{what: "client's probe, then a tree", sql: "SELECT id FROM {p} WHERE " + rt39Fake + " AND (name = 'Smith' AND (id > 0 AND id < 50)) AND id < 100"})
}
