package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The checks a sorted read's text carries first in its WHERE, that the
// operators PostgreSQL would call on the plaintext are pg_catalog's:
// those of its proxy-side WHERE (the plan's gate, written by
// sqlrewrite.RewriteSort) and those of its comparisons on cells.

// gateSortedRead is text, a sorted read's as sqlrewrite wrote it, with
// both checks as the Parse of info needs them.
func gateSortedRead(text []byte, info *stmtInfo) ([]byte, *pgerr.Error) {
	out, pe := widenedGate(text, info.plan.Sort, filterParamTypes(info))
	if pe != nil {
		return nil, pe
	}
	return gateSorted(out, info.plan.Operators, func(n int) uint32 { return info.declared[n] })
}

// gateSorted puts the one check of a sorted read's comparisons on cells
// (ops) first in the WHERE of the text sent (sqlrewrite.GateWhere);
// declared gives the types a Parse declared for its parameters.
func gateSorted(sql []byte, ops []sqlrewrite.OperatorGuard, declared func(int) uint32) ([]byte, *pgerr.Error) {
	if len(ops) == 0 {
		return sql, nil
	}
	out, ok := sqlrewrite.GateWhere(sql, sqlrewrite.OperatorGate(ops, declared))
	if !ok {
		return nil, internalRefusal(ops[0].Column, "no FROM to check the comparisons' operators after")
	}
	return out, nil
}

// widenedGate is sql, a sorted read's text, with its operator gate's
// exact lookups widened to the pg_operator scan when a parameter they
// compare has another type in the Parse than they assumed, or one
// phiguard did not record (sqlrewrite.SortPlan.ExactGateHolds,
// WidenGate): `name = $1` declared varchar resolves among every = that
// takes text and varchar, not by the exact lookup of = (text, text).
func widenedGate(sql []byte, sp *sqlrewrite.SortPlan, declared func(int) uint32) ([]byte, *pgerr.Error) {
	if sp == nil || sp.ExactGateHolds(declared) {
		return sql, nil
	}
	out, ok := sp.WidenGate(sql)
	if !ok {
		return nil, internalRefusal(sp.Shadow[0].Column, "the operators' check is not where it was written")
	}
	return out, nil
}

// filterParamTypes gives the type of each parameter of a statement's
// proxy-side WHERE: the one its Parse declared, or for one it left
// unspecified the type PostgreSQL infers from the column
// (declareFilterParams, which records every one); 0 for a parameter it
// did not record, which the gate does not assume anything of.
func filterParamTypes(info *stmtInfo) func(int) uint32 {
	return func(n int) uint32 { return info.filterParams[n] }
}
