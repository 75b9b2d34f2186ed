package guard

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Search through terms (docs/design/search-terms.md §4.3, §4.4, §4.6;
// docs/search.md, "Through search terms"). sqlrewrite gives a proxy-side
// filter on a column with `search_state: ready` a term (Filter.Term) and
// writes its term conjunct in the text sent; phiguard computes the term
// constants from the client's: a literal's when the statement arrives
// (Query) or is prepared (Parse), written into the text as a bytea
// literal; a parameter's at each Bind, sent in a parameter phiguard adds
// after the client's (and after the hidden ones of
// protect_compare_param.go), declared bytea and cut from the
// ParameterDescription the client sees. The client's constants never
// reach the database; the client's conjunct is still evaluated on every
// row's decrypted value. A term phiguard cannot compute for a literal (a
// constant of another type, compared as numeric) leaves the conjunct
// `true`, as without terms: the answer is the same, only slower.

const oidBytea = 17

// termParam is a parameter phiguard adds for a term conjunct: the term
// of constant arg of filter filter; for a LIKE's variants
// (protect_search_variants.go) match says which of its terms.
type termParam struct {
	filter, arg int
	match       matchPart
}

// hasTermFilters: the plan has a filter with a term.
func hasTermFilters(sp *sqlrewrite.SortPlan) bool {
	if sp == nil {
		return false
	}
	for _, f := range sp.Filters {
		if f.Term != sqlrewrite.TermNone {
			return true
		}
	}
	return false
}

// filterTerms is the constants of each filter's term conjunct: lits are
// the constants read from the text (nil: none could be read), types the
// declared types of the filters' parameters (nil in a Query, which has
// none), base the number after which the added parameters go. A filter
// gets nil when phiguard cannot compute its term for every constant, or
// when its column's shredded cells read as a marker its conjuncts may
// hold for (shred_marker_terms.go); pending are the columns of the
// latter whose parameters decide at each Bind.
func (s *Session) filterTerms(sp *sqlrewrite.SortPlan, lits []filterArgs, types map[int]uint32, base int) ([][]sqlrewrite.TermArg, []termParam, []markerKey) {
	out := make([][]sqlrewrite.TermArg, len(sp.Filters))
	var params []termParam
	drop, pending := s.markerTerms(sp, lits, false)
	for i, f := range sp.Filters {
		if f.Term == sqlrewrite.TermNone || f.Term == sqlrewrite.TermOrd && !s.termsCurrent(f.Column, termRecordOrder) {
			continue // term_records.go: the conjunct stays true
		}
		if drop != nil && drop[i] {
			continue // the marker may satisfy the column's conjuncts: true
		}
		if f.Term == sqlrewrite.TermMatch {
			if lits != nil {
				out[i] = s.likeTermArgs(f, &lits[i]) // protect_search_like.go
			}
			continue
		}
		n := 1
		if f.Op == sqlrewrite.FilterBetween {
			n = 2
		}
		args := make([]sqlrewrite.TermArg, 0, n)
		var added []termParam
		for j, a := range f.Args[:n] {
			switch {
			case a.Param > 0 && types != nil && columnTyped(f.Column, types[a.Param]):
				added = append(added, termParam{filter: i, arg: j})
				args = append(args, paramTermArg(f, base+len(params)+len(added))) // protect_term_versions.go
			case a.Param > 0 || lits == nil || lits[i].numeric:
			case lits[i].args[j].null:
				args = append(args, sqlrewrite.TermArg{Null: true})
			case lits[i].args[j].canon != nil:
				if ta, pe := s.literalTermArg(f, lits[i].args[j].canon); pe == nil {
					args = append(args, ta)
				}
			}
		}
		if len(args) == n {
			out[i] = args
			params = append(params, added...)
		}
	}
	return out, params, pending
}

// columnTyped: a parameter of type typ is read in the column's type (the
// term's input is then its value as the column holds it).
func columnTyped(col *policy.ProtectedColumn, typ uint32) bool {
	return typ == col.Type.OID || textual(typ) && textual(col.Type.OID)
}

// termValue is the term of f's kind of canon, a value in f's column's
// type, under the column's search_key_version.
func (s *Session) termValue(f sqlrewrite.Filter, canon []byte) ([]byte, *pgerr.Error) {
	col := f.Column
	tk, err := cellcipher.TermKeys(s.srv.protect.cipher().Keyring, col, col.SearchKeyVersion)
	if err != nil {
		return nil, s.termError(col, err)
	}
	if f.Term == sqlrewrite.TermEq {
		q, err := cellcipher.EqualityInput(col, canon)
		if err != nil {
			return nil, s.termError(col, err)
		}
		return tk.Eq(q), nil
	}
	loc, pe := s.termLocale(col) // protect_terms.go
	if pe != nil {
		return nil, pe
	}
	in, err := cellcipher.OrderInput(col, loc, canon)
	if err != nil {
		return nil, s.termError(col, err)
	}
	o, err := tk.Ord(in)
	if err != nil {
		return nil, s.termError(col, err)
	}
	return o, nil
}

// parseTerms computes a Parse's term constants (its literals' terms, and
// the parameters phiguard adds for its parameters', declared bytea after
// the client's and the hidden ones), and records the added parameters.
func (s *Session) parseTerms(info *stmtInfo, msg *pgproto3.Parse) [][]sqlrewrite.TermArg {
	sp := info.plan.Sort
	if !hasTermFilters(sp) {
		return nil
	}
	if info.hidden == nil {
		info.clientParams = clientParamCount(msg)
	}
	base := info.clientParams + len(info.hidden)
	types := info.filterParams
	if types == nil {
		types = map[int]uint32{}
	}
	terms, params, pending := s.filterTerms(sp, info.filterLits, types, base)
	params = planLikeVariants(info, msg.Query, terms, params, pending) // protect_search_variants.go
	if len(params) > 0 {
		for len(msg.ParameterOIDs) < base {
			msg.ParameterOIDs = append(msg.ParameterOIDs, 0) // unspecified, as the client left it
		}
		for _, tp := range params {
			msg.ParameterOIDs = append(msg.ParameterOIDs, termParamOID(sp, tp)) // protect_term_versions.go
		}
		info.termParams = params
	}
	if info.like != nil {
		info.like.oids = slices.Clone(msg.ParameterOIDs)
	}
	return terms
}

// clientParamCount is the client's parameters of a Parse none of whose
// parameters phiguard has added yet: those it declares, or more when its
// text names a higher $n.
func clientParamCount(msg *pgproto3.Parse) int {
	n := len(msg.ParameterOIDs)
	for _, span := range sqlrewrite.ParamSpans([]byte(msg.Query)) {
		if k, err := strconv.Atoi(msg.Query[span[0]+1 : span[1]]); err == nil {
			n = max(n, k)
		}
	}
	return n
}

// appendAdded appends the parameters phiguard adds to a Bind: the hidden
// ones (extra, the cells of protect_compare_param.go, text), then the
// term parameters, binary bytea: the terms of the constants bindFilters
// read.
func (s *Session) appendAdded(info *stmtInfo, portal string, msg *bindParts, extra [][]byte) *pgerr.Error {
	for _, v := range extra {
		msg.params, msg.formats = append(msg.params, v), append(msg.formats, 0)
	}
	if info.termParams == nil {
		return nil
	}
	n := len(msg.params)
	msg.params = append(msg.params, make([][]byte, len(info.termParams))...) // no allocation of its own
	if pe := s.bindTerms(info, s.portalFilters[portal], msg.params[n:]); pe != nil {
		return pe
	}
	for range info.termParams {
		msg.formats = append(msg.formats, 1)
	}
	if name := info.like.boundName(); name != "" {
		msg.names = append(append(append([]byte(portal), 0), name...), 0) // the variant's statement
	}
	return nil
}

// bindTerms writes into out the values of a Bind's added term
// parameters, from the filters' constants bindFilters read (args). The
// round multiplier is written in the scratch (valid until appendBind has
// copied it, in the same Bind).
func (s *Session) bindTerms(info *stmtInfo, args []filterArgs, out [][]byte) *pgerr.Error {
	sp := info.plan.Sort
	for k, tp := range info.termParams {
		if tp.filter < 0 { // the round multiplier (protect_rounds.go): the first round's
			m := &s.bindScratch.mult
			binary.BigEndian.PutUint64(m[:], uint64(s.firstRoundMult(sp))) // rounds_shredded.go; multParam's bytes
			out[k] = m[:]
			continue
		}
		f := sp.Filters[tp.filter]
		if tp.match != matchNone {
			out[k] = info.like.value(tp) // protect_search_variants.go
			continue
		}
		if tp.filter >= len(args) {
			return internalRefusal(f.Column, "the WHERE's constants disagree with its plan")
		}
		a := args[tp.filter].args[tp.arg]
		switch {
		case a.null:
		case a.canon == nil || args[tp.filter].numeric:
			return internalRefusal(f.Column, "a search term's constant was not read in the column's type")
		default:
			v, pe := s.boundTerm(f, a.canon)
			if pe != nil {
				return pe
			}
			out[k] = v
		}
	}
	return nil
}

// queryTerms computes a simple Query's term constants from its text,
// sql (before phiguard's edits). A constant that cannot be read sends no
// term; queryFilterArgs reports its error.
func (s *Session) queryTerms(sql []byte, sp *sqlrewrite.SortPlan) [][]sqlrewrite.TermArg {
	if !hasTermFilters(sp) {
		return nil
	}
	lits, pe := s.literalFilterArgs(sql, sp)
	if pe != nil {
		return nil
	}
	terms, _, _ := s.filterTerms(sp, lits, nil, 0)
	return terms
}
