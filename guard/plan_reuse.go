package guard

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Plan reuse for the unnamed statement (issue 13; docs/search.md, "Plan
// reuse"). A client that sends its statement as an unnamed Parse before
// every Bind (pgx's ExecParams, QueryExecModeExec) makes PostgreSQL parse,
// analyse and plan phiguard's long rewrite of a sorted read at each
// execution. For a Parse of the unnamed statement that phiguard sorts
// (plan.Sort), whose client text names every object with its schema
// (sqlrewrite.Analysis.Qualified) and holds no constant read under a
// setting the backend does not report (Analysis.SettingsFree), with no LIKE variants, hidden
// parameters, row rules or filled column list, phiguard prepares the text
// it would send under a name of its own, phiguard_plan_<n>, once per
// session and text, and the client's unnamed statement becomes virtual:
// it lives under that name.
//
//   - The text of a statement in rounds is its first round's, with the
//     multiplier written as a literal (a parameter would have PostgreSQL
//     plan a custom plan at every Bind); later rounds Parse the backend's
//     own unnamed statement, free while the client's lives elsewhere, with
//     the multiplier a parameter, and bind the portal from it.
//   - Miss: Close('S', "") then Parse(phiguard_plan_<n>) in place of the
//     client's Parse (the Close makes a failed Parse leave no unnamed
//     statement behind, as PostgreSQL's failed Parse does). Hit:
//     Parse("", "SELECT"), which costs no analysis of the text and fails
//     in an aborted transaction as the client's Parse would. Either
//     answer is the client's ParseComplete or error.
//   - A Bind and a Describe('S') of the virtual statement name
//     phiguard_plan_<n>; its Close goes as it is and ends it, as does a
//     simple Query (PostgreSQL drops the unnamed statement then) and a
//     later Parse of "".
//   - The cache holds limits.reused_plans texts (default 32; 0 turns
//     plan reuse off) and maxReusedBytes of them per session, the least recently used closed beyond (an injected Close,
//     answer kept); it is emptied when the catalog is read again or the policy changes (the
//     names closed), at DEALLOCATE ALL and DISCARD ALL (closed too: the
//     statement may not run), and an entry is dropped (and closed) when a Bind or Execute
//     through it fails: PostgreSQL's 0A000 "cached plan must not change
//     result type" after another session's DDL reaches the client once.

// planPrefix starts the names of the statements phiguard prepares for
// plan reuse; a client's statement of such a name is refused
// (variantNameRefusal).
const planPrefix = "phiguard_plan_"

// maxReusedBytes bounds the bytes of a session's reused plans' keys
// (their texts): a session holds at most that much, or the one text when
// it is longer; limits.reused_plans bounds their number.
const maxReusedBytes = 256 << 10

// planSeq numbers the reused plans' names, unique in the process.
var planSeq atomic.Uint64

// planEntry is one text prepared under phiguard's name. Client pump,
// but for v.parsed (settled by the backend pump) and stale.
type planEntry struct {
	key  string
	v    *likeVariant // its name and its Parse's answer (reparse.go)
	used uint64       // planCache.clock at its last use
	// stale: a Bind or Execute through it failed (backend pump).
	stale atomic.Bool
}

// planCache is a session's reused plans. Client pump.
type planCache struct {
	entries map[string]*planEntry
	bytes   int // of the entries' keys
	clock   uint64
	// what the entries were prepared under
	cat      *catalog
	pol      *policy.Policy
	settings planSettingsKey // plan_reuse_settings.go
	// closing are Closes of dropped names not known to have run (an
	// earlier error in their segment skips them): sent again.
	closing []*likeVariant
	// prepared counts the Parses phiguard sent under its names (tests).
	prepared uint64
	// datetime is whether a text (by its hash) is free of date and time
	// constants (plan_reuse_datetime.go); one that is not is never
	// prepared.
	datetime map[uint64]bool
}

// virtualPlan is how the client's unnamed statement lives under
// phiguard's name. Client pump.
type virtualPlan struct {
	entry *planEntry
	info  *stmtInfo
	// A statement in rounds: its first round's multiplier (written in the
	// text), and what the next rounds' text needs.
	rounds    bool
	mult      int64
	src       []byte
	terms     [][]sqlrewrite.TermArg
	natives   sqlrewrite.NativeColumn
	multParam string
	oids      []uint32 // with the multiplier's
	// gone: a DEALLOCATE ALL went to the backend since its Parse; the
	// next Bind or Describe prepares it again (plan_reuse_revive.go).
	gone bool
	// revival settles with the answer to the last such Parse: failed or
	// skipped, the next Bind or Describe prepares it again.
	revival *likeVariant
}

// mayReusePlan marks a Parse whose plan phiguard may reuse: set before
// its text's last edits, which then write its first round literal
// (parseSortedText).
func (s *Session) mayReusePlan(name string, a *sqlrewrite.Analysis, info *stmtInfo, plain bool) {
	if name != "" || !plain || s.srv.protect == nil || s.srv.cfg.Limits.ReusedPlans == 0 || info.hidden != nil || info.plan.Sort == nil || info.plan.Refusal != nil || !a.Qualified() || !a.SettingsFree() || s.labelsNamed(a) {
		return
	}
	if _, settled := s.planSettingsNow(); !settled { // plan_reuse_settings.go
		return
	}
	info.virt = &virtualPlan{info: info}
}

// labelsNamed reports whether a text holding a string constant names a
// relation with an enum or reg* column (catalog.hasLabels): the constant
// may be a label PostgreSQL turns into an OID at analysis, and another
// session's ALTER TYPE ... RENAME VALUE invalidates no plan
// (TestRedTeam32aEnumLabel).
func (s *Session) labelsNamed(a *sqlrewrite.Analysis) bool {
	c := s.catalog.Load()
	if !a.HasStrings() || c == nil {
		return false
	}
	for _, st := range a.Statements {
		for _, t := range st.Tables {
			if c.hasLabels(t) {
				return true
			}
		}
	}
	return false
}

// parseVariant marks a Parse (mayReusePlan) and returns what settles
// the Parse phiguard may send in place of the client's (the
// expectation's variant), made before the expectation is queued: the
// backend pump may answer it as soon as it is.
func (s *Session) parseVariant(name string, a *sqlrewrite.Analysis, info *stmtInfo, plain bool) *likeVariant {
	if s.mayReusePlan(name, a, info, plain); info.virt == nil {
		return nil
	}
	return &likeVariant{parsed: &replacement{settled: make(chan struct{})}}
}

// roundsLiteral writes a reused statement in rounds with its first
// round's multiplier literal, and keeps what its next rounds need; ok is
// false when it is not reused (LIKE variants). Client pump.
func (s *Session) roundsLiteral(info *stmtInfo, src []byte, terms [][]sqlrewrite.TermArg, mult string, oids []uint32) ([]byte, bool, *pgerr.Error) {
	v := info.virt
	if v == nil || info.like != nil || info.hidden != nil {
		info.virt = nil
		return nil, false, nil
	}
	sp := info.plan.Sort
	v.rounds, v.mult, v.src, v.terms, v.natives, v.multParam = true, s.firstRoundMult(sp), src, terms, s.nativeColumns(), mult
	v.oids = oids
	out, err := sqlrewrite.RewriteSortRounds(src, sp, terms, strconv.FormatInt(v.mult, 10), v.natives)
	if err != nil {
		return nil, false, sortRewriteRefusal(sp, err)
	}
	if !s.plans.datetimeFree(string(out)) { // plan_reuse_datetime.go
		info.virt = nil
		return nil, false, nil
	}
	return out, true, nil
}

// reusePlan is the message sent for a planned Parse (msg, its text
// final): the client's, or phiguard's statement standing in for it (px
// is its expectation, queued). Client pump.
func (s *Session) reusePlan(info *stmtInfo, msg *pgproto3.Parse, px *expectation) ([]byte, error) {
	v := info.virt
	if v == nil || px.variant == nil || info.hidden != nil || info.like != nil {
		info.virt = nil
		return msg.Encode(nil)
	}
	oids := msg.ParameterOIDs
	if v.rounds && len(oids) > 0 {
		oids = oids[:len(oids)-1] // the multiplier is literal
	}
	settings, _ := s.planSettingsNow() // settled: mayReusePlan
	c := &s.plans
	if c.cat != s.catalog.Load() || c.pol != s.policy() || c.settings != settings {
		c.drop()
		c.cat, c.pol, c.settings = s.catalog.Load(), s.policy(), settings
	}
	key := reuseKey(msg.Query, oids)
	e := c.entries[key]
	if e != nil {
		ok, err := s.variantUsable(e.v) // protect_search_variants.go
		if err != nil {
			return nil, err
		}
		if !ok || e.stale.Load() {
			c.remove(e, !ok)
			e = nil
		}
	}
	if e == nil && !v.rounds && !c.datetimeFree(msg.Query) { // plan_reuse_datetime.go; rounds: roundsLiteral
		info.virt = nil
		return msg.Encode(nil)
	}
	c.clock++
	var pre, out []byte
	if e != nil {
		e.used = c.clock
		out = pgwire.Frame(pgwire.FeParse, []byte("\x00SELECT\x00\x00\x00"))
	} else {
		e = &planEntry{key: key, used: c.clock, v: px.variant} // settled by the Parse's answer
		e.v.name = planPrefix + strconv.FormatUint(planSeq.Add(1), 10)
		s.unsettled = append(s.unsettled, e.v.parsed) // noteSync marks it synced
		c.add(e, s.srv.cfg.Limits.ReusedPlans)
		c.prepared++
		pre = s.injectClose(pre, "", nil)
		parse := pgproto3.Parse{Name: e.v.name, Query: msg.Query, ParameterOIDs: oids}
		var err error
		if out, err = parse.Encode(nil); err != nil {
			return nil, err
		}
	}
	v.entry = e
	pre = s.sendPlanCloses(pre)
	if pre != nil {
		s.expects.moveLast(px) // the Closes go first: their answers come first
		out = append(pre, out...)
	}
	return out, nil
}

// reuseKey is a reused plan's key: the text and the declared types (a
// text holds no NUL; without types, the text itself).
func reuseKey(text string, oids []uint32) string {
	if len(oids) == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 1 + 4*len(oids))
	b.WriteString(text)
	b.WriteByte(0)
	for _, o := range oids {
		b.WriteByte(byte(o >> 24))
		b.WriteByte(byte(o >> 16))
		b.WriteByte(byte(o >> 8))
		b.WriteByte(byte(o))
	}
	return b.String()
}

// add makes room for e (evict) among at most limit entries and holds it.
func (c *planCache) add(e *planEntry, limit int) {
	for len(c.entries) > 0 && (len(c.entries) >= limit || c.bytes+len(e.key) > maxReusedBytes) {
		c.evict()
	}
	if c.entries == nil {
		c.entries = map[string]*planEntry{}
	}
	c.entries[e.key] = e
	c.bytes += len(e.key)
}

// remove drops e; closed: the backend may have the name, close it.
func (c *planCache) remove(e *planEntry, failed bool) {
	delete(c.entries, e.key)
	c.bytes -= len(e.key)
	if !failed {
		c.closing = append(c.closing, &likeVariant{name: e.v.name})
	}
}

// evict drops the least recently used entry.
func (c *planCache) evict() {
	var old *planEntry
	for _, e := range c.entries {
		if old == nil || e.used < old.used {
			old = e
		}
	}
	if old != nil {
		c.remove(old, false)
	}
}

// drop empties the cache and closes the names.
func (c *planCache) drop() {
	for _, e := range c.entries {
		c.remove(e, false)
	}
	clear(c.entries)
	c.bytes = 0
}

// sendPlanCloses appends to out the Closes of dropped names not yet
// known closed, and queues their expectations (answers kept). A Close
// the backend skipped is sent again at the next Parse that reuses a plan.
func (s *Session) sendPlanCloses(out []byte) []byte {
	c := &s.plans
	kept := c.closing[:0]
	for _, v := range c.closing {
		if v.parsed != nil {
			select {
			case <-v.parsed.settled:
				if !v.parsed.failed.Load() {
					continue // closed
				}
			default:
				kept = append(kept, v) // its answer is not in yet
				continue
			}
		}
		v.parsed = &replacement{settled: make(chan struct{})}
		out = s.injectClose(out, v.name, v)
		kept = append(kept, v)
	}
	clear(c.closing[len(kept):])
	c.closing = kept
	return out
}

// injectClose appends a Close of statement name whose answer phiguard
// keeps; v, when set, is settled by its answer.
func (s *Session) injectClose(out []byte, name string, v *likeVariant) []byte {
	x := s.expects.fresh(expClose)
	x.name, x.closeS, x.injected, x.variant = name, true, true, v
	s.expects.push(x)
	return append(out, pgwire.Frame(pgwire.FeClose, append(append([]byte{'S'}, name...), 0))...)
}

// forgetPlans notes a DEALLOCATE ALL, a DISCARD ALL or a DEALLOCATE of
// one of phiguard's names going to the backend: it drops the names and
// closes them all the same (a Close of a statement the backend no longer
// has is answered CloseComplete), as the statement may not run (an
// aborted transaction, an earlier error in its pipeline) and the backend
// would keep them beyond the bound (TestRedTeam32aDeallocateLeak).
func (s *Session) forgetPlans(st sqlrewrite.Statement) {
	if st.Deallocates == "*" || strings.HasPrefix(st.Deallocates, planPrefix) {
		s.plans.drop()
		s.markVirtualGone() // plan_reuse_revive.go
	}
}

// endVirtual: a simple Query drops PostgreSQL's unnamed statement, so
// the client's is no longer phiguard's, and phiguard no longer describes
// it (reprepare_unnamed.go). Client pump.
func (s *Session) endVirtual() {
	if info := s.clientStmts[""]; info != nil {
		info.virt, info.dropped = nil, true
	}
}

// reusedPlan is the plan a Bind of stmt runs through (plan_reuse.go),
// nil for none.
func reusedPlan(info *stmtInfo, stmt string) *planEntry {
	if stmt != "" || virtualName(info) == "" {
		return nil
	}
	return info.virt.entry
}

// answeredError notes an error answering x: a Parse's settles its LIKE variant
// (protect_search_variants.go: prepared again when next needed) and
// marks its replacement errored (reparse.go, before the skip settles
// it); a Bind's or Execute's through a reused plan marks the plan stale
// (prepared again at the next Parse). Backend pump.
func (x *expectation) answeredError() {
	if x.kind == expParse {
		x.settleVariant(true)
		if x.prep != nil && x.prep.replacing != nil {
			x.prep.replacing.errored.Store(true)
		}
	}
	if x.plan != nil {
		x.plan.stale.Store(true)
	}
}

// planResultChanged rewords PostgreSQL's errors answering a Bind through
// a reused plan. Its 0A000 "cached plan must not change result type"
// (DDL by another session changed a result column's type since phiguard
// prepared the text): the client learns why its unnamed statement met a
// cached plan, and that the next execution prepares it again (the plan
// is stale already, answeredError). Any other that names phiguard's
// statement (08P01 "bind message supplies 0 parameters, but prepared
// statement ... requires 1") names the client's, "", as PostgreSQL's
// would (TestRedTeam32aBindErrorNames); but 26000 (phiguard's statement
// dropped by a DEALLOCATE ALL, docs/search.md). Backend pump.
func (s *Session) planResultChanged(head *expectation, body []byte) (bool, error) {
	if head.kind != expBind || head.plan == nil {
		return false, nil
	}
	var er pgproto3.ErrorResponse
	if er.Decode(body) != nil {
		return false, nil
	}
	quoted := `"` + head.plan.v.name + `"`
	switch {
	case er.Code == string(pgerr.FeatureNotSupported) && strings.HasPrefix(er.Message, "cached plan must not change result type"):
		er.Message += ": phiguard prepares the text of a sorted read sent as the unnamed statement once per session (plan reuse), and DDL since changed the type of a column of its result; the next execution prepares it again"
	case er.Code != "26000" && (strings.Contains(er.Message, quoted) || strings.Contains(er.Detail, quoted) || strings.Contains(er.Hint, quoted)):
		er.Message = strings.ReplaceAll(er.Message, quoted, `""`)
		er.Detail = strings.ReplaceAll(er.Detail, quoted, `""`)
		er.Hint = strings.ReplaceAll(er.Hint, quoted, `""`)
	default:
		return false, nil
	}
	return s.sendBackendError(&er, body) // redact.go
}

// planNameRefusal is the refusal of a client's Describe or Close (typ)
// of a statement named with phiguard's prefix (kind 'S'), nil for any
// other. Client pump.
func (s *Session) planNameRefusal(typ, kind byte, name string) []byte {
	if kind != 'S' || !strings.HasPrefix(name, planPrefix) {
		return nil
	}
	x := s.expects.fresh(expClose)
	if typ == pgwire.FeDescribe {
		x.kind = expDescribeStmt
	}
	s.expects.push(x)
	return s.markerParse("", variantNameRefusal(name, nil), nil)
}

// virtualName is the backend's name of the client's statement name, when
// virtual ("" otherwise).
func virtualName(info *stmtInfo) string {
	if info == nil || info.virt == nil || info.virt.entry == nil {
		return ""
	}
	return info.virt.entry.v.name
}

// virtualBind makes the Bind out (or the client's body) of the unnamed
// statement, when virtual, bind phiguard's statement, without the
// multiplier parameter its text has literal. Client pump.
func (s *Session) virtualBind(b boundNames, body, out []byte) ([]byte, error) {
	if b.stmt != "" || out != nil && out[0] != 'B' {
		return out, nil
	}
	info := s.clientPortals[b.portal]
	name := virtualName(info)
	if name == "" {
		return out, nil
	}
	src := body
	if out != nil {
		src = out[5:]
	}
	bound, ok := renameBind(src, name, info.virt.rounds)
	if !ok {
		return nil, pgwire.Violation("malformed Bind message")
	}
	return bound, nil
}

// renameBind is the Bind message of body (a Bind's body) binding
// statement name, without its last parameter (and that parameter's
// format code, when each has one) when dropLast: one allocation, where
// decoding and encoding took five.
func renameBind(body []byte, name string, dropLast bool) ([]byte, bool) {
	be := binary.BigEndian
	portal, rest, ok := pgwire.Cstring(body)
	if ok {
		_, rest, ok = pgwire.Cstring(rest)
	}
	if !ok || len(rest) < 2 {
		return nil, false
	}
	nf := int(be.Uint16(rest))
	if len(rest) < 4+2*nf {
		return nil, false
	}
	formats, r := rest[2:2+2*nf], rest[4+2*nf:]
	np := int(be.Uint16(rest[2+2*nf:]))
	params, last := r, 0
	for range np {
		if len(r) < 4 {
			return nil, false
		}
		last = len(params) - len(r)
		n := int(int32(be.Uint32(r)))
		if r = r[4:]; n > 0 {
			if len(r) < n {
				return nil, false
			}
			r = r[n:]
		}
	}
	params, results := params[:len(params)-len(r)], r
	if dropLast && np > 0 {
		if nf == np {
			nf--
			formats = formats[:2*nf]
		}
		np--
		params = params[:last]
	}
	out := make([]byte, 0, 5+len(body)+len(name))
	out = append(out, pgwire.FeBind, 0, 0, 0, 0)
	out = append(append(append(append(out, portal...), 0), name...), 0)
	out = append(be.AppendUint16(out, uint16(nf)), formats...)
	out = append(be.AppendUint16(out, uint16(np)), params...)
	out = append(out, results...)
	be.PutUint32(out[1:5], uint32(len(out)-1))
	return out, true
}

// virtualRound is a later round of a portal bound from a virtual
// statement (bind, the Bind phiguard sent): the backend's unnamed
// statement prepared with the round's text, multiplier a parameter, and
// the portal bound from it with multiplier m. Its ParseComplete is kept
// with the round's other answers. Client pump.
func virtualRound(v *virtualPlan, bind []byte, m int64) ([]byte, error) {
	text, err := sqlrewrite.RewriteSortRounds(v.src, v.info.plan.Sort, v.terms, v.multParam, v.natives)
	var out []byte
	var pe *pgerr.Error
	if err == nil {
		out, pe = gateSortedRead(text, v.info) // sorted_gate.go
	}
	if err != nil || pe != nil {
		return nil, pgwire.Violation("phiguard could not write a round of a sorted statement again")
	}
	var b pgproto3.Bind
	if err := b.Decode(bind[5:]); err != nil {
		return nil, pgwire.Violation("phiguard could not read back its own Bind")
	}
	appendMult(&b, m)
	wire, err := (&pgproto3.Parse{Query: string(out), ParameterOIDs: v.oids}).Encode(nil)
	if err == nil {
		if wire, err = (&pgproto3.Close{ObjectType: 'P', Name: b.DestinationPortal}).Encode(wire); err == nil {
			if wire, err = b.Encode(wire); err == nil {
				wire, err = (&pgproto3.Execute{Portal: b.DestinationPortal}).Encode(wire)
			}
		}
	}
	return wire, err
}

// appendMult appends multiplier m to a Bind's parameters (binary int8),
// its format codes spelled out per parameter first.
func appendMult(b *pgproto3.Bind, m int64) {
	n := len(b.Parameters)
	switch len(b.ParameterFormatCodes) {
	case n:
	case 0:
		b.ParameterFormatCodes = make([]int16, n)
	case 1:
		f := b.ParameterFormatCodes[0]
		b.ParameterFormatCodes = make([]int16, n)
		for i := range b.ParameterFormatCodes {
			b.ParameterFormatCodes[i] = f
		}
	}
	b.Parameters, b.ParameterFormatCodes = append(b.Parameters, multParam(m)), append(b.ParameterFormatCodes, 1)
	b.PreparedStatement = ""
}
