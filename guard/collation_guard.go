package guard

import (
	"slices"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The collation guard of a write with search terms
// (sqlrewrite/collation_guard.go): the terms of a text column with order
// or match terms are computed under the collation the session's catalog
// read (protect_terms.go), and the statement checks, in the database and
// under its table's lock, that the column still has it. On a mismatch the
// backend's error becomes CollationChangedRefusal (40001, nothing
// written), the catalog is read again, and a prepared statement is
// prepared again at its next Bind (reprepare.go), so that running it
// again computes the terms under the collation the column has now.

// collationChecks are the checks of the columns with collation-dependent
// terms that plan writes, from the catalog; nil when it writes none.
func (s *Session) collationChecks(plan *sqlrewrite.Plan) []sqlrewrite.CollationCheck {
	if plan == nil || plan.Refusal != nil {
		return nil
	}
	var out []sqlrewrite.CollationCheck
	cat := s.catalog.Load()
	for _, col := range writtenTermColumns(plan) {
		if !search.NeedsLocale(col) || cat == nil {
			continue
		}
		seen := false
		for _, c := range out {
			seen = seen || c.Column == col
		}
		if seen || len(out) > 0 && out[0].Column.Table != col.Table {
			continue
		}
		for _, cc := range cat.tables[col.Table.Name] {
			if cc.protected == col && cc.collation != 0 {
				out = append(out, sqlrewrite.CollationCheck{Column: col, Collation: cc.collation})
			}
		}
	}
	return out
}

// guardCollations adds the collation guard to the text sent for plan
// (replaced, or sql when phiguard changed nothing); nil when it needs
// none and nothing else changed the text.
// The judges guard (judges_guard.go) is added after it, around it.
func (s *Session) guardCollations(replaced, sql []byte, plan *sqlrewrite.Plan) []byte {
	checks := s.collationChecks(plan)
	if len(checks) > 0 {
		src := replaced
		if src == nil {
			src = sql
		}
		replaced = []byte(sqlrewrite.GuardTermCollations(string(src), checks))
	}
	return s.guardJudges(replaced, sql, plan)
}

// writtenTermColumns are the protected columns plan writes values into:
// its write slots', and a COPY FROM's listed columns (all of its table's
// when it lists none).
func writtenTermColumns(plan *sqlrewrite.Plan) []*policy.ProtectedColumn {
	var out []*policy.ProtectedColumn
	for _, v := range plan.Values {
		if v.Use == sqlrewrite.UseWrite && v.Column != nil {
			out = append(out, v.Column)
		}
	}
	if cp := plan.Copy; cp != nil && cp.In && cp.Table != nil {
		for _, c := range cp.Table.Columns {
			if len(cp.Columns) == 0 || slices.Contains(cp.Columns, c.Name) {
				out = append(out, c)
			}
		}
	}
	return out
}
