package guard

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const compareParamTestPolicy = `
version: 1
tables:
  public.p:
    columns:
      ssn: {mode: deterministic, key: k-ssn, type: text}
`

// compareParamSession is a session with only what compareParams and
// hiddenValues use: a keyring where k-ssn has versions live live ones.
func compareParamSession(t *testing.T, live uint32) *Session {
	t.Helper()
	var dks []keys.DataKey
	for v := uint32(1); v <= live; v++ {
		dk, err := keys.GenerateDataKey("k-ssn", v, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dks = append(dks, dk)
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	return &Session{srv: &Shared{protect: &Protection{Keyring: kr}}}
}

func compareParamPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	pol, err := sqlrewrite.ParsePolicy([]byte(compareParamTestPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

func TestCompareParamsRewrite(t *testing.T) {
	pol := compareParamPolicy(t)
	for _, c := range []struct {
		live     uint32
		sql      string
		declared int
		want     string // "" : unchanged, no hidden parameters
		client   int
	}{
		{1, "SELECT id FROM p WHERE ssn = $1", 0, "", 0},
		{2, "SELECT id FROM p WHERE ssn = $1", 0, "SELECT id FROM p WHERE ssn = ANY(ARRAY[$1,$2, G])", 1},
		{2, "SELECT id FROM p WHERE ssn = $1", 4, "SELECT id FROM p WHERE ssn = ANY(ARRAY[$1,$5, G])", 4},
		{3, "SELECT id FROM p WHERE ssn=$1", 1, "SELECT id FROM p WHERE ssn=ANY(ARRAY[$1,$2,$3, G])", 1},
		{2, "SELECT id FROM p WHERE ssn <> $1", 0, "SELECT id FROM p WHERE ssn <> ALL(ARRAY[$1,$2, G])", 1},
		{2, "SELECT id FROM p WHERE ssn IN ($2, $1) AND id = $3", 0, "SELECT id FROM p WHERE (G AND ssn IN ($2,$4, $1,$5)) AND id = $3", 3},
		{2, "SELECT id FROM p WHERE ssn NOT IN ($1) OR ssn = $1", 0, "SELECT id FROM p WHERE ssn NOT IN ($1,$2, G) OR ssn = ANY(ARRAY[$1,$2, G])", 1},
		{2, "UPDATE p SET ssn = $1 WHERE ssn = $2", 0, "UPDATE p SET ssn = $1 WHERE ssn = ANY(ARRAY[$2,$3, G])", 2},
		// Each target of a multiple-column SET holds the same source in
		// the parse tree: its $1 is still one edit (was refused, XX000
		// "overlapping parameters", since compareParams splices).
		{2, "UPDATE p SET (id, x) = (SELECT 1, 2 FROM p WHERE ssn = $1)", 0, "UPDATE p SET (id, x) = (SELECT 1, 2 FROM p WHERE ssn = ANY(ARRAY[$1,$2, G]))", 1},
		{2, "UPDATE p SET (id, x, y) = (1, 2, (SELECT 3 FROM p WHERE ssn <> $1 LIMIT 1))", 0, "UPDATE p SET (id, x, y) = (1, 2, (SELECT 3 FROM p WHERE ssn <> ALL(ARRAY[$1,$2, G]) LIMIT 1))", 1},
		// A GROUP BY position or alias makes the planner walk the entry
		// again: two values at one $1, one edit (was refused alike).
		{2, "SELECT ssn = $1 FROM p GROUP BY 1", 0, "SELECT ssn = ANY(ARRAY[$1,$2, G]) FROM p GROUP BY 1", 1},
		{2, "SELECT ssn = $1 AS m, count(*) FROM p GROUP BY m", 0, "SELECT ssn = ANY(ARRAY[$1,$2, G]) AS m, count(*) FROM p GROUP BY m", 1},
		{1, "SELECT id FROM p WHERE $1 = ssn", 0, "", 0},
		{1, "SELECT id FROM p WHERE ssn = ($1)", 0, "", 0},
		{2, "SELECT id FROM p WHERE $1 = ssn", 0, "refused", 0},
		{2, "SELECT id FROM p WHERE ssn = ($1)", 0, "refused", 0},
		{2, "SELECT id FROM p WHERE ssn IN (($1))", 0, "refused", 0},
	} {
		s := compareParamSession(t, c.live)
		plan := sqlrewrite.PlanFor(sqlrewrite.Analyze(c.sql), pol)
		if plan.Refusal != nil {
			t.Fatalf("%s: %v", c.sql, plan.Refusal)
		}
		// As at Parse: the operators' checks placed first (G below).
		guarded, gpe := guardOperators([]byte(c.sql), sqlrewrite.LiteralSpans([]byte(c.sql)), plan, nil)
		if gpe != nil {
			t.Fatalf("%s: %v", c.sql, gpe.Message)
		}
		got, hidden, client, pe := s.compareParams(guarded, plan, c.declared)
		if c.want == "refused" {
			// No place for the other versions' cells: one would miss rows.
			if pe == nil || pe.Code != pgerr.FeatureNotSupported || !strings.Contains(pe.Message, "public.p.ssn") {
				t.Errorf("%s (%d live): %q, %v; want 0A000 naming the column", c.sql, c.live, got, pe)
			}
			continue
		}
		if pe != nil {
			t.Fatalf("%s: %v", c.sql, pe.Message)
		}
		if c.want == "" {
			if string(got) != string(guarded) || hidden != nil {
				t.Errorf("%s (%d live): changed to %q, %d hidden", c.sql, c.live, got, len(hidden))
			}
			continue
		}
		if gated := gateText(string(got)); gated != c.want || client != c.client {
			t.Errorf("%s (%d live):\n got %q, %d client parameters\nwant %q, %d", c.sql, c.live, gated, client, c.want, c.client)
		}
		if len(hidden) != int(c.live-1)*countDistinctCompared(plan) {
			t.Errorf("%s: %d hidden parameters", c.sql, len(hidden))
		}
	}
}

// gateItem and gateBeside are the operator check as an item no cell
// equals and as a condition (sqlrewrite/operator_guard.go).
var (
	gateItem   = regexp.MustCompile(`CASE WHEN \(SELECT CASE WHEN COALESCE\(.*?AS pg_catalog\.bool\) END\) THEN '~phg~!' END`)
	gateBeside = regexp.MustCompile(`CASE WHEN COALESCE\(.*?AS pg_catalog\.bool\) END`)
)

// gateText is sql with each operator check written G.
func gateText(sql string) string {
	return gateBeside.ReplaceAllString(gateItem.ReplaceAllString(sql, "G"), "G")
}

func countDistinctCompared(plan *sqlrewrite.Plan) int {
	seen := map[int]bool{}
	for _, v := range plan.Values {
		if v.Literal < 0 && v.Use == sqlrewrite.UseCompare {
			seen[v.Param] = true
		}
	}
	return len(seen)
}

func TestHiddenValues(t *testing.T) {
	s := compareParamSession(t, 3)
	col := sqlrewrite.PlanFor(sqlrewrite.Analyze("SELECT 1 FROM p WHERE ssn = $1"), compareParamPolicy(t)).Values[0].Column
	hidden := []hiddenParam{{of: 2, rank: 1, col: col}, {of: 2, rank: 2, col: col}, {of: 1, rank: 1, col: col}}
	vals, pe := s.hiddenValues(hidden, [][]byte{nil, []byte("900-00-0001")}, []int16{0, 1})
	if pe != nil {
		t.Fatal(pe.Message)
	}
	cands, err := s.srv.protect.Keyring.EqualityCandidates("k-ssn", cellcipher.AssociatedData(col), []byte("900-00-0001"))
	if err != nil {
		t.Fatal(err)
	}
	// A text value in binary format is the same bytes; a NULL stays NULL.
	if !bytes.Equal(vals[0], cands[1]) || !bytes.Equal(vals[1], cands[2]) || vals[2] != nil {
		t.Errorf("hidden values do not match the older versions' cells")
	}
}
