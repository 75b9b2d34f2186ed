package guard

import "github.com/phiguard/phiguard/sqlrewrite"

// Shredded cells whose order terms still describe their old value
// (docs/shredding.md, docs/search.md "Consistency check"). A cell sealed
// per subject reads NULL (or keys.subjects.shredded_marker) once its
// subject's key is destroyed, while its order term stays its old value's
// until `phiguard shred` rewrites it: in the shred's own window, while a
// proxy still holds the key cached, for a write a proxy made with the
// key cached after the shred, and for good in a dump restored from
// before the shred. The database orders such a row by its old term;
// phiguard reads it as NULL. Rounds stay exact anyway:
//
//   - NULLs last: the row belongs after every value, so a row the window
//     left out of it is owed no place in the window, and one the window
//     holds is sorted by phiguard among the NULLs. Such a row is not
//     counted as kept (staleRows): the rows before it in phiguard's order
//     are the plaintext's first rows, the rows after the window's last
//     values may not be.
//   - NULLs first (DESC, or NULLS FIRST): the row belongs before every
//     value, where a window cut by terms cannot be trusted to hold it, so
//     a statement whose order-term key is sealed per subject fetches
//     every candidate in its first round (firstRoundMult), as before
//     rounds: phiguard sorts them all and checks no order.
//   - With a shredded marker, the row reads as the marker, a value that
//     belongs anywhere in the order: the same, whatever the direction,
//     and for min and max.
//
// A round that returned every candidate needs no consistency check:
// phiguard's exact sort of all of them is the answer whatever their
// terms (checkTermOrder).

// everyCandidate is the round multiplier that makes k every candidate
// (nextRound's last round).
const everyCandidate = 1 << 40

// firstRoundMult is the multiplier of a statement's first round: 1, or
// everyCandidate when a shredded cell of its order-term column could
// belong in the window without its term putting it there.
func (s *Session) firstRoundMult(sp *sqlrewrite.SortPlan) int64 {
	r := sp.Rounds
	if r == nil || r.Column == nil || !r.Column.PerSubject() {
		return 1
	}
	if s.srv.protect.ShreddedMarker != "" && isTextType(r.Column) {
		return everyCandidate
	}
	if r.TermKey() && r.Key < len(sp.Keys) && sp.Keys[r.Key].NullsFirst {
		return everyCandidate
	}
	return 1
}

// staleRow: the row just held reads NULL at the order-term key while its
// cell has an order term (a shredded subject's cell not yet rewritten).
func (run *sortRun) staleRow(term []byte) bool {
	p := run.plan.Rounds
	return term != nil && len(run.rows) > 0 && run.rows[len(run.rows)-1].keys[p.Key].null
}

// allCandidates: the round returned every candidate (fewer than k rows).
func (r *roundState) allCandidates() bool { return r.k >= 0 && r.returned < r.k }
