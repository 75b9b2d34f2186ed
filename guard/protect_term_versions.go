package guard

import (
	"encoding/binary"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Term searches during a change of search_key_version
// (docs/design/search-terms.md §5.3, `search_state: rekeying`): the
// backfill is rewriting the cells' terms to the new version, so a cell
// carries the terms of one loaded version of the key or another. The
// planner gives only = a term then (sqlrewrite.termFor: order terms of
// two versions do not compare, so ranges, BETWEEN and ORDER BY run in
// phiguard), and its term conjunct compares with the constant's equality
// term under every version cellcipher.TermVersions lists (the policy's
// and the keyring's, never the database's): `= ANY` of an ARRAY of
// literals, or of one parameter phiguard adds, declared bytea[] and sent
// binary. Every candidate is re-checked on its decrypted value as
// always.

// rekeyed: f's term conjunct lists its term under several versions.
func rekeyed(f sqlrewrite.Filter) bool {
	return f.Term == sqlrewrite.TermEq && f.Column.SearchState == policy.SearchRekeying
}

// paramTermArg is the term argument of an added parameter $n for f.
func paramTermArg(f sqlrewrite.Filter, n int) sqlrewrite.TermArg {
	if rekeyed(f) {
		return sqlrewrite.ArrayParamArg(n)
	}
	return sqlrewrite.TermArg{Param: n}
}

// termParamOID is the declared type of an added term parameter: bytea[]
// for a rekeying equality term, else its match part's (bytea unless
// match tokens; protect_search_variants.go). A round multiplier has no
// filter (tp.filter < 0).
func termParamOID(sp *sqlrewrite.SortPlan, tp termParam) uint32 {
	if tp.filter >= 0 && tp.filter < len(sp.Filters) && rekeyed(sp.Filters[tp.filter]) {
		return oidByteaArray
	}
	return tp.match.oid()
}

// literalTermArg is the term argument of a literal constant canon of f.
func (s *Session) literalTermArg(f sqlrewrite.Filter, canon []byte) (sqlrewrite.TermArg, *pgerr.Error) {
	if !rekeyed(f) {
		v, pe := s.termValue(f, canon)
		return sqlrewrite.TermArg{Value: v}, pe
	}
	vs, pe := s.equalityTerms(f.Column, canon)
	return sqlrewrite.VersionsArg(vs), pe
}

// boundTerm is the value of f's added term parameter for canon: the
// term, or while rekeying a binary bytea[] of the terms.
func (s *Session) boundTerm(f sqlrewrite.Filter, canon []byte) ([]byte, *pgerr.Error) {
	if !rekeyed(f) {
		return s.termValue(f, canon)
	}
	vs, pe := s.equalityTerms(f.Column, canon)
	if pe != nil {
		return nil, pe
	}
	return byteaArray(vs), nil
}

// equalityTerms is canon's equality term under each of col's term
// versions, search_key_version's first.
func (s *Session) equalityTerms(col *policy.ProtectedColumn, canon []byte) ([][]byte, *pgerr.Error) {
	kr := s.srv.protect.cipher().Keyring
	tvs, err := cellcipher.TermVersions(kr, col)
	if err != nil {
		return nil, s.termError(col, err)
	}
	q, err := cellcipher.EqualityInput(col, canon)
	if err != nil {
		return nil, s.termError(col, err)
	}
	out := make([][]byte, len(tvs))
	for i, tv := range tvs {
		tk, err := cellcipher.TermKeys(kr, col, tv)
		if err != nil {
			return nil, s.termError(col, err)
		}
		out[i] = tk.Eq(q)
	}
	return out, nil
}

// byteaArray is vs in PostgreSQL's binary array format: one dimension,
// no NULL, element type bytea, lower bound 1.
func byteaArray(vs [][]byte) []byte {
	n := 20
	for _, v := range vs {
		n += 4 + len(v)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, 1)        // dimensions
	b = binary.BigEndian.AppendUint32(b, 0)        // has no NULL
	b = binary.BigEndian.AppendUint32(b, oidBytea) // element type
	b = binary.BigEndian.AppendUint32(b, uint32(len(vs)))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}
