package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// TestGuardJudges: the judges check wraps the first value written into a
// listed column (an INSERT's first row that is not DEFAULT, an UPDATE's
// SET item), comparing the table's JudgesMark by its OID with the
// catalog's (leaving phiguard's own CHECKs out of it), and raising with
// the marker and the table's name, which
// JudgesChangedRefusal reads back (40001); shapes with no such value, and
// a check without a mark, leave the text unchanged.
func TestGuardJudges(t *testing.T) {
	c := JudgesCheck{Table: policy.TableName{Schema: "public", Name: "t"}, OID: 16384, Mark: "32769",
		Own: []OwnCheck{{Name: "phiguard_s_cells", Attnum: 2, Needle: "'^~ph'"}}}
	for _, tc := range []struct {
		sql, wrapped string // "": unchanged
	}{
		{"INSERT INTO t (id, s) VALUES (1, $2)", "THEN ($2) ELSE"},
		{"INSERT INTO t (id, s) VALUES (1, DEFAULT), (2, 'cell') RETURNING id", "THEN ('cell') ELSE"},
		{"UPDATE t SET id = 1, s = $2 WHERE id = 1", "THEN ($2) ELSE"},
		{"INSERT INTO t (id) VALUES (1)", ""},
		{"INSERT INTO t (id, s) SELECT 1, $2", ""},
		{"UPDATE t SET (id, s) = (1, $2)", ""},
		{"COPY t (id, s) FROM STDIN", ""},
		{"SELECT 1; INSERT INTO t (id, s) VALUES (1, $2)", ""},
	} {
		got := GuardJudges(tc.sql, []string{"s"}, c)
		if tc.wrapped == "" {
			if got != tc.sql {
				t.Errorf("%s: changed to %s", tc.sql, got)
			}
			continue
		}
		if !strings.Contains(got, tc.wrapped) || !strings.Contains(got, "r.oid OPERATOR(pg_catalog.=) 16384::pg_catalog.oid") ||
			!strings.Contains(got, "OPERATOR(pg_catalog.=) '32769'::pg_catalog.numeric") || !strings.Contains(got, judgesGuardMarker+"public.t") ||
			!strings.Contains(got, "c.conname OPERATOR(pg_catalog.=) 'phiguard_s_cells'::pg_catalog.name AND c.conkey OPERATOR(pg_catalog.=) '{2}'::pg_catalog.int2[]") ||
			!strings.Contains(got, "pg_catalog.pg_get_constraintdef(c.oid), '''^~ph''')") {
			t.Errorf("%s: guarded as\n%s", tc.sql, got)
		}
		if after, err := pg_query.Parse(got); err != nil || len(after.GetStmts()) != 1 {
			t.Errorf("%s: %v", got, err)
		}
	}
	if got := GuardJudges("INSERT INTO t (id, s) VALUES (1, $2)", []string{"s"}, JudgesCheck{Table: c.Table, OID: 16384}); strings.Contains(got, judgesGuardMarker) {
		t.Errorf("guarded without a mark: %s", got)
	}
	r, ok := JudgesChangedRefusal(`unrecognized configuration parameter "` + judgesGuardMarker + `public."T x""`)
	if !ok || r.Code != "40001" || r.Table != `public."T x"` || !strings.Contains(r.Message, "run the statement again") {
		t.Errorf("refusal: %+v %v", r, ok)
	}
}
