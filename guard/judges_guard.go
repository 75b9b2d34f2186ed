package guard

import (
	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The judges guard of a write (sqlrewrite/judges_guard.go): the statement
// checks, in the database and under its table's lock, that the table's
// constraints, unique and exclusion indexes and row security policies are
// those the session's catalog read (its JudgesMark); one another session
// added since would judge the write on the ciphertext. On a mismatch the
// backend's error becomes JudgesChangedRefusal (40001, nothing written),
// the catalog is read again, and a prepared statement is prepared again
// at its next Bind (reprepare.go); run again, the write meets
// judgedRefusal's 0A000 (catalog_judged.go), or runs when the addition
// judges nothing encrypted. Off unless limits.judges_guard is set: it
// costs each guarded write an execution of the mark's query
// (BENCHMARKS.md).

// guardJudges adds the judges guard to the text sent for plan (replaced,
// or sql when phiguard changed nothing); nil when it needs none and
// nothing else changed the text.
func (s *Session) guardJudges(replaced, sql []byte, plan *sqlrewrite.Plan) []byte {
	if plan == nil || plan.Refusal != nil || !s.srv.cfg.Limits.JudgesGuard {
		return replaced
	}
	cat := s.catalog.Load()
	if cat == nil {
		return replaced
	}
	var columns []string
	var check sqlrewrite.JudgesCheck
	for _, v := range plan.Values {
		if v.Use != sqlrewrite.UseWrite || v.Column == nil {
			continue
		}
		if len(columns) == 0 {
			check.Table = v.Column.Table.Name
		}
		if v.Column.Table.Name == check.Table {
			columns = append(columns, v.Column.Name)
		}
	}
	if len(columns) == 0 {
		return replaced
	}
	check.OID = cat.oids[check.Table]
	check.Mark = cat.judgeMarks[check.OID]
	for _, cc := range cat.tables[check.Table] {
		if col := cc.protected; col != nil {
			check.Own = append(check.Own, sqlrewrite.OwnCheck{Name: cellcheck.Name(col), Attnum: cc.attnum, Needle: "'" + cellcheck.Pattern + "'"},
				sqlrewrite.OwnCheck{Name: search.CheckName(col), Attnum: cc.attnum, Needle: "'~phs~'"})
		}
	}
	src := replaced
	if src == nil {
		src = sql
	}
	out := sqlrewrite.GuardJudges(string(src), columns, check)
	if out == string(src) {
		return replaced
	}
	return []byte(out)
}

// writesEncrypted: plan writes a value into an encrypted column, so its
// text may hold the judges guard, and a prepared statement of it is
// prepared again after the guard failed (reprepare.go).
func writesEncrypted(plan *sqlrewrite.Plan) bool {
	for _, v := range plan.Values {
		if v.Use == sqlrewrite.UseWrite && v.Column != nil {
			return true
		}
	}
	return false
}
