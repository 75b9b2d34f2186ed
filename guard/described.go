package guard

import "github.com/phiguard/phiguard/sqlrewrite"

// A prepared statement executed again is described again: libpq sends
// Describe with every execution, so the same RowDescription comes back
// each time. Mapping it (decode, look up each field, encode the rewritten
// one) is the same work each time, so the backend pump keeps the last
// few answers, for the same catalog and statement, and hands out the same
// fields and bytes. Only sessions without column rules use it: a rule's
// fields are updated in place after a reload (refreshRules), and fields
// for a result that must be refused are never kept.

// describedResult is describeFields' answer for one RowDescription.
type describedResult struct {
	cat    *catalog
	a      *sqlrewrite.Analysis
	fields []*resultField // read-only once kept
	out    []byte         // read-only once kept
}

// describedMemo holds the answers by the RowDescription's bytes (backend
// pump).
type describedMemo map[string]describedResult

// maxDescribedMemo bounds the memo; once full it starts over.
const maxDescribedMemo = 64

func (m describedMemo) lookup(body []byte, cat *catalog, a *sqlrewrite.Analysis) (describedResult, bool) {
	r, ok := m[string(body)]
	if !ok || r.cat != cat || r.a != a {
		return describedResult{}, false
	}
	return r, true
}

func (m *describedMemo) remember(body []byte, r describedResult) {
	for _, f := range r.fields {
		if f != nil && (f.stale || f.newRel) {
			return // refused, and the catalog read next will differ
		}
	}
	if *m == nil || len(*m) >= maxDescribedMemo {
		*m = make(describedMemo)
	}
	(*m)[string(body)] = r
}
