package sqlrewrite

import (
	"strings"
	"testing"
)

// ungated is out without the plan's shadow gate (shadowGate), for tests
// that look for the rest of the WHERE as it was before the gate: GateWhere
// wrote "WHERE <gate> AND (<where>)", or "WHERE <gate>" when there was
// none.
func ungated(sp *SortPlan, out []byte) []byte {
	gate := sp.shadowGate()
	s := string(out)
	if gate == "" {
		return out
	}
	open := " " + gate + " AND ("
	if i := strings.Index(s, open); i >= 0 {
		start, depth, j := i+len(open), 1, i+len(open)
		for ; j < len(s) && depth > 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		return []byte(s[:i] + s[start:j-1] + s[j:])
	}
	return []byte(strings.Replace(s, " WHERE "+gate, "", 1))
}

// TestShadowGate: a read phiguard filters, aggregates or groups checks
// its operator and aggregate probes first in its WHERE (once, before the
// first row), adds a WHERE when it had none, and the hidden column the
// probe had is a constant; a read without probes gets no gate; the
// gate's error is recognised as a refusal naming the construct and
// column.
func TestShadowGate(t *testing.T) {
	pol := testPolicy(t)
	for _, c := range []struct {
		sql, where string
	}{
		{"SELECT id FROM patients WHERE first > 'M' AND id < 9", "WHERE CASE WHEN COALESCE((" +
			"CAST(CAST('>(pg_catalog.text,pg_catalog.text)' AS pg_catalog.regoperator) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(666 AS pg_catalog.oid))"},
		{"SELECT id FROM patients WHERE 'M' < first AND id < 9", "WHERE CASE WHEN COALESCE(NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o"},
		{"SELECT id FROM patients WHERE first > 'M'::varchar", "WHERE CASE WHEN COALESCE(NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o"},
		{"SELECT max(first) FROM patients", "FROM patients WHERE CASE WHEN COALESCE(NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc f"},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Sort == nil || len(plan.Sort.Shadow) == 0 {
			t.Fatalf("%s: no probe (%v)", c.sql, plan.Refusal)
		}
		out, err := RewriteSort([]byte(c.sql), plan.Sort)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), c.where) || strings.Contains(string(out), "'shadowed'") {
			t.Errorf("%s: sent\n%s\nwant the gate %q and no hidden probe", c.sql, out, c.where)
		}
		if u := string(ungated(plan.Sort, out)); strings.Contains(u, "pg_operator") || strings.Contains(u, "pg_proc") || strings.Contains(u, "regoperator") {
			t.Errorf("%s: the gate is not where ungated looks:\n%s", c.sql, u)
		}
	}
	plan := PlanFor(Analyze("SELECT id FROM patients ORDER BY first"), pol)
	if out, err := RewriteSort([]byte("SELECT id FROM patients ORDER BY first"), plan.Sort); err != nil || strings.Contains(string(out), "WHERE") {
		t.Fatalf("a sort without a probe: %s (%v)", out, err)
	}
	msg := `unrecognized configuration parameter "` + shadowedProbeMarker + `WHERE:public.patients.first"`
	r, ok := ShadowedProbeRefusal(msg)
	if !ok || r.Table != "public.patients" || r.Construct != "WHERE" || !strings.Contains(r.Message, "public.patients.first") {
		t.Fatalf("the gate's error: %+v %v", r, ok)
	}
	if _, ok := ShadowedProbeRefusal("some other error"); ok {
		t.Fatal("recognised an error without the marker")
	}
}
