package guard

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Per-Bind variants of a prepared statement whose LIKE or ILIKE pattern
// is a parameter (docs/design/search-terms.md §4.6, "Prepared
// statements"). Which match conjunct a pattern needs (the prefix key, the
// tokens, none) is known only at Bind, and a conjunct written
// ($x IS NULL OR …) would stop a generic plan from using the index. So
// the client's statement is prepared as it would be without the term
// (`true` in the LIKE's place), and each LIKE conjunct on a ready match
// column whose pattern is a parameter gets two parameters phiguard adds
// after the others, declared bytea (the prefix key) and bytea[] (the
// tokens), unused by that text. A Bind whose patterns give terms runs a
// variant: the same text with those conjuncts written in
//
//	prefix:  (term_pre_v1(c) = $x AND term_match_v1(c) @> $t)
//	         $t: the pattern's other tokens and the prefix key's own anchored
//	         token, which every value with that prefix holds, so never '{}'
//	tokens:  term_match_v1(c) @> $t
//
// prepared in the backend under a name of phiguard's the first time a
// Bind needs it (an injected Parse before the Bind, whose answer the
// client never sees; its error, 25P02 in an aborted transaction, is the
// Bind's), and the Bind names that statement. Every variant has the same
// parameters, so the Bind differs only in the name; the client's
// Describe, Close and portal stay with its own statement. Two such LIKE
// conjuncts give at most 3 × 3 − 1 = 8 variants; a third stays
// proxy-side (no term). A variant's Parse that failed is prepared again
// under a new name when next needed; a client's Close or new Parse of the
// name closes its variants. A statement in rounds prepares its variants
// with its round multiplier parameter (lv.mult), which every Bind
// carries.
//
// The same variants leave out, at a Bind, the term conjuncts of a column
// whose conjuncts the shredded marker satisfies with the Bind's values
// (shred_marker_terms.go): the client's statement keeps them, and a
// variant's key counts such columns in bits above its LIKE filters'
// choices (at most 2 columns: 9 × 4 texts).

// matchPart is which term of a LIKE a parameter phiguard adds carries.
type matchPart uint8

const (
	matchNone   matchPart = iota // not a LIKE's: an equality or order term (bytea)
	matchPrefix                  // the prefix key (bytea)
	matchTokens                  // the tokens (bytea[])
)

const oidByteaArray = 1001

func (m matchPart) oid() uint32 {
	if m == matchTokens {
		return oidByteaArray
	}
	return oidBytea
}

// maxLikeVariantFilters is how many LIKE conjuncts of one statement get
// variants: 3^2 = 9 texts at most.
const maxLikeVariantFilters = 2

// likeVariant is one variant prepared (or being prepared) in the
// backend: its Parse's answer settles parsed (backend pump: ParseComplete,
// an error, or a skip after an earlier error), as a Parse that reuses a
// name is settled (reparse.go).
type likeVariant struct {
	name   string
	parsed *replacement
}

// settleVariant records the answer to a variant's Parse. Backend pump.
func (x *expectation) settleVariant(failed bool) {
	if x.variant != nil {
		x.variant.parsed.settle(failed)
	}
}

// variantUsable: the backend has the variant, or will have it before
// this Bind (its Parse went out in this segment: if it fails, PostgreSQL
// skips the Bind too). After a Sync the client pump waits for the
// answer, which the backend was told to give. Client pump.
func (s *Session) variantUsable(v *likeVariant) (bool, error) {
	r := v.parsed
	select {
	case <-r.settled:
		return !r.failed.Load(), nil
	default:
	}
	if !r.synced {
		return true, nil
	}
	if err := s.flushBackend(); err != nil {
		return false, err
	}
	select {
	case <-r.settled:
	case <-s.backendDone:
		return false, errBackendDone
	}
	return !r.failed.Load(), nil
}

// variantPrefix starts the names of phiguard's variants. A client's
// Parse or Bind of such a name is refused: bound by the client, a variant
// would run without phiguard's plan of it (no re-check of the client's
// conjuncts, no audit of it as the client's statement), and a client's
// statement of that name would take one phiguard prepares.
const variantPrefix = "phiguard_like_"

// variantNameRefusal is the refusal of a client's Parse or Bind naming
// stmt, or pe, the refusal it has otherwise.
func variantNameRefusal(stmt string, pe *pgerr.Error) *pgerr.Error {
	if strings.HasPrefix(stmt, planPrefix) { // plan_reuse.go
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"prepared statement names starting with %q are phiguard's own (the plans it reuses for the unnamed statement, the text of a statement it prepares again): name the statement otherwise", planPrefix)
	}
	if strings.HasPrefix(stmt, variantPrefix) {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"prepared statement names starting with %q are phiguard's own (the variants of statements with LIKE, or search terms a shredded marker may satisfy, on an encrypted column): name the statement otherwise", variantPrefix)
	}
	return pe
}

// ownNameRefusal refuses an SQL PREPARE or EXECUTE of a name of
// phiguard's own (plan_reuse.go, the LIKE variants), and a DECLARE of
// its read's portal (ownPortalRefusal): an EXECUTE would run
// phiguard's rewritten text as it is, unsorted, with the columns phiguard
// sorts by and reads only itself (TestRedTeam33aExecuteByName), and a
// PREPARE would take a name phiguard is to prepare.
func ownNameRefusal(a *sqlrewrite.Analysis) *pgerr.Error {
	for _, st := range a.Statements {
		if pe := variantNameRefusal(st.PreparedName, nil); pe != nil {
			return pe
		}
		if st.CursorOp == sqlrewrite.CursorDeclare {
			if pe := ownPortalRefusal(st.Cursor, nil); pe != nil { // own_messages.go
				return pe
			}
		}
	}
	return nil
}

// variantSeq numbers the variants' statement names, unique in the process
// (so in every backend session).
var variantSeq atomic.Uint64

// likeVariants is what a statement's Binds need to pick and prepare
// variants. Client pump only (a likeVariant's parsed is settled by the
// backend pump).
type likeVariants struct {
	filters []int                  // the LIKE filters with variants
	params  [][2]int               // their added parameters' indexes in termParams: prefix, tokens
	src     string                 // the text sortedText rewrote at Parse
	terms   [][]sqlrewrite.TermArg // the other conjuncts' term constants
	oids    []uint32               // the parameter types the Parse declared
	mult    string                 // a statement in rounds: its multiplier parameter, "$n"
	// marker are the columns whose shredded marker's verdict waits for
	// each Bind (shred_marker_terms.go): bit b of a variant's key above
	// the LIKE filters' says marker[b]'s terms are left out.
	marker []markerKey
	made   map[int]*likeVariant // by variant key
	// The current Bind's choice (bindVariant, then appendAdded).
	bound  *likeVariant
	values [][]byte // per filter k: [2k] its prefix key, [2k+1] its tokens; nil for NULL
}

// planLikeVariants adds, at Parse, the two parameters of each LIKE
// filter with a match term whose pattern (or ESCAPE) is a parameter, and
// records what its Binds need; params are the term parameters so far.
func planLikeVariants(info *stmtInfo, src string, terms [][]sqlrewrite.TermArg, params []termParam, marker []markerKey) []termParam {
	sp := info.plan.Sort
	var filters []int
	var added [][2]int
	for i, f := range sp.Filters {
		if f.Term != sqlrewrite.TermMatch || f.Args[0].Param == 0 && !(f.HasEscape && f.Escape.Param > 0) ||
			len(filters) == maxLikeVariantFilters {
			continue
		}
		filters = append(filters, i)
		added = append(added, [2]int{len(params), len(params) + 1})
		params = append(params, termParam{filter: i, match: matchPrefix}, termParam{filter: i, match: matchTokens})
	}
	if filters == nil && marker == nil {
		return params // no variants: nothing recorded (nor allocated, at each Parse of a literal pattern)
	}
	lv := &likeVariants{src: src, terms: terms, filters: filters, params: added, marker: marker}
	if lv.terms == nil {
		lv.terms = make([][]sqlrewrite.TermArg, len(sp.Filters))
	}
	info.like = lv
	return params
}

// boundName is the variant the current Bind runs, or "" for the
// client's own statement.
func (lv *likeVariants) boundName() string {
	if lv == nil || lv.bound == nil {
		return ""
	}
	return lv.bound.name
}

// value is the current Bind's value of added parameter tp (nil: NULL).
func (lv *likeVariants) value(tp termParam) []byte {
	if lv == nil {
		return nil
	}
	for k, f := range lv.filters {
		if f == tp.filter && k < len(lv.values)/2 {
			return lv.values[2*k+int(tp.match)-1]
		}
	}
	return nil
}

// bindVariant reads, before a Bind's expectation is queued, the
// patterns of its statement's LIKE conjuncts with variants and the
// constants of its columns whose shredded marker's verdict waits for the
// Bind (shred_marker_terms.go), chooses the variant, and returns the
// Parse that prepares it when the backend does not have it yet (nil
// otherwise). A pattern it cannot read, or one that gives no term, runs
// without a term, as does the whole Bind when its constants cannot be
// read (protectBind then reports why). Client pump.
func (s *Session) bindVariant(stmt string, body []byte) ([]byte, error) {
	info, err := s.boundStatement(stmt)
	if err != nil || info == nil || info.like == nil {
		return nil, err
	}
	lv := info.like
	lv.bound, lv.values = nil, make([][]byte, 2*len(lv.filters))
	msg, ok := s.bindScratch.splitBind(body)
	if !ok || len(msg.params) != info.clientParams || len(info.filterParams) == 0 {
		return nil, nil
	}
	sp := info.plan.Sort
	args, pe := s.bindFilterArgs(info, msg.params, msg.formats)
	if pe != nil || len(args) != len(sp.Filters) {
		return nil, nil
	}
	terms := append([][]sqlrewrite.TermArg(nil), lv.terms...)
	drop, _ := s.markerTerms(sp, args, true) // shred_marker_terms.go: every column decided
	key, mult := s.likeVariantTerms(info, args, drop, terms)
	key += mult * lv.markerVariant(sp, drop, terms)
	if key == 0 {
		return nil, nil
	}
	if v := lv.made[key]; v != nil {
		ok, err := s.variantUsable(v)
		if err != nil {
			return nil, err
		}
		if ok {
			lv.bound = v
			return nil, nil
		}
	}
	text, pe := lv.variantText(sp, terms, s.nativeColumns())
	if pe == nil { // the checks of its operators, as the statement's own text has them
		text, pe = gateSortedRead(text, info) // sorted_gate.go
	}
	if pe != nil {
		clear(lv.values) // no term this time: the client's statement, as without terms
		return nil, nil
	}
	v := &likeVariant{name: variantPrefix + strconv.FormatUint(variantSeq.Add(1), 10),
		parsed: &replacement{settled: make(chan struct{})}}
	s.unsettled = append(s.unsettled, v.parsed) // noteSync marks it synced
	if lv.made == nil {
		lv.made = map[int]*likeVariant{}
	}
	lv.made[key], lv.bound = v, v
	parse := pgproto3.Parse{Name: v.name, Query: string(text), ParameterOIDs: lv.oids}
	out, err := parse.Encode(nil)
	if err != nil {
		return nil, err
	}
	s.expects.push(&expectation{kind: expParse, name: v.name, analysis: info.analysis, start: time.Now(), injected: true, variant: v})
	return out, nil
}

// likeVariantTerms writes into lv.values and terms what the Bind's
// patterns (args) give each LIKE filter with variants, and returns the
// variant key of those choices and 3^filters. A filter whose column
// sends no term for the marker (drop) gets none.
func (s *Session) likeVariantTerms(info *stmtInfo, args []filterArgs, drop []bool, terms [][]sqlrewrite.TermArg) (int, int) {
	lv := info.like
	key, mult := 0, 1
	for k, i := range lv.filters {
		f := info.plan.Sort.Filters[i]
		var targs []sqlrewrite.TermArg
		if drop == nil || !drop[i] {
			targs = s.likeTermArgs(variantFilter(f), &args[i]) // protect_search_like.go
		}
		switch {
		case targs == nil:
		case targs[0].Value != nil:
			// The prefix key, and the tokens with its anchored token,
			// which every value with that prefix holds (never '{}').
			lv.values[2*k] = targs[0].Value
			lv.values[2*k+1] = tokenArray(append([]string{string(targs[0].Value)}, targs[1].Tokens...))
			key += 1 * mult
		default:
			lv.values[2*k+1] = tokenArray(targs[1].Tokens)
			key += 2 * mult
		}
		if targs != nil {
			p := info.clientParams + len(info.hidden) + 1 + lv.params[k][0]
			terms[i] = []sqlrewrite.TermArg{{}, {Param: p + 1, Array: true}}
			if targs[0].Value != nil {
				terms[i][0] = sqlrewrite.TermArg{Param: p}
			}
		}
		mult *= 3
	}
	return key, mult
}

// markerVariant removes from terms the term conjuncts of the columns
// whose marker verdict waited for the Bind and holds now (drop), and
// returns the bits of those columns whose text it changes.
func (lv *likeVariants) markerVariant(sp *sqlrewrite.SortPlan, drop []bool, terms [][]sqlrewrite.TermArg) int {
	bits := 0
	for b, key := range lv.marker {
		for i, f := range sp.Filters {
			if markerKeyOf(f) == key && drop != nil && drop[i] && terms[i] != nil {
				terms[i], bits = nil, bits|1<<b
			}
		}
	}
	return bits
}

// variantText is a variant's text: the statement's own rewrite with
// terms, in rounds with the Parse's multiplier parameter (lv.mult).
func (lv *likeVariants) variantText(sp *sqlrewrite.SortPlan, terms [][]sqlrewrite.TermArg, natives sqlrewrite.NativeColumn) ([]byte, *pgerr.Error) {
	if lv.mult == "" {
		return sortedText([]byte(lv.src), sp, terms, natives)
	}
	out, err := sqlrewrite.RewriteSortRounds([]byte(lv.src), sp, terms, lv.mult, natives)
	if err != nil {
		return nil, sortRewriteRefusal(sp, err)
	}
	return out, nil
}

// variantFilter is f read as if its pattern were a literal, so that
// likeTermArgs computes the terms of the value the Bind gave it.
func variantFilter(f sqlrewrite.Filter) sqlrewrite.Filter {
	f.Args[0].Param, f.Escape.Param = 0, 0
	return f
}

// tokenArray is a bytea[] of tokens in PostgreSQL's binary array format:
// one dimension, no NULL, each element its bytes.
func tokenArray(toks []string) []byte {
	out := binary.BigEndian.AppendUint32(nil, 1) // dimensions
	out = binary.BigEndian.AppendUint32(out, 0)  // no NULL
	out = binary.BigEndian.AppendUint32(out, oidBytea)
	out = binary.BigEndian.AppendUint32(out, uint32(len(toks)))
	out = binary.BigEndian.AppendUint32(out, 1) // lower bound
	for _, t := range toks {
		out = binary.BigEndian.AppendUint32(out, uint32(len(t)))
		out = append(out, t...)
	}
	return out
}

// closeVariants returns the Closes of the variants of the client's
// statement name, which a Close or a new Parse of that name ends, and
// queues their expectations. Client pump.
func (s *Session) closeVariants(name string) []byte {
	info := s.clientStmts[name]
	if info == nil || info.like == nil || len(info.like.made) == 0 {
		return nil
	}
	var out []byte
	for _, v := range info.like.made {
		select {
		case <-v.parsed.settled:
			if v.parsed.failed.Load() {
				continue // never prepared
			}
		default: // a Close of a name the backend does not have is no error
		}
		x := s.expects.fresh(expClose)
		x.name, x.closeS, x.injected = v.name, true, true
		s.expects.push(x)
		out = append(out, pgwire.Frame(pgwire.FeClose, append(append([]byte{'S'}, v.name...), 0))...)
	}
	info.like.made, info.like.bound = nil, nil
	return out
}

// forgetVariants notes, as a DEALLOCATE ALL, a DISCARD ALL or a
// DEALLOCATE of one of phiguard's names goes to the backend (a Query,
// or an Execute of such a statement), that the backend will drop the
// variants with the client's statements: a later Bind needing one
// prepares it again under a new name, after the DEALLOCATE in the
// stream, instead of binding a name the backend no longer has (26000,
// where PostgreSQL without phiguard would run the Bind). Client pump.
func (s *Session) forgetVariants(a *sqlrewrite.Analysis) {
	if a == nil {
		return
	}
	s.forgetRoundBinds(a) // protect_rounds.go
	for _, st := range a.Statements {
		s.forgetPlans(st) // plan_reuse.go
	}
	for _, st := range a.Statements {
		if st.Deallocates == "*" || strings.HasPrefix(st.Deallocates, variantPrefix) {
			for _, info := range s.clientStmts {
				if info.like != nil {
					info.like.made, info.like.bound = nil, nil
				}
			}
			return
		}
	}
}
