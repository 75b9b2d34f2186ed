package guard

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Proxy-side aggregates (docs/search.md). A statement whose SortPlan has
// Aggregates reaches the database with each aggregate replaced by its
// argument; phiguard folds each row its WHERE keeps into the aggregates
// as it arrives (min and max by internal/pgorder's order, count by the
// cell's NULL, count(DISTINCT) by holding the values), and at the
// CommandComplete sends one row and SELECT 1, described as PostgreSQL
// describes the aggregates.

// aggState is one aggregate being folded.
type aggState struct {
	count int64
	// best is the min or max so far, and bestPlain its canonical text.
	best      pgorder.Key
	bestPlain []byte
	seen      bool
	keys      []pgorder.Key // count(DISTINCT)'s values
	// order compares min's and max's text under the column's collation
	// (checkAggregateCollations).
	order keyOrder
}

// aggregateDescription describes the aggregates as PostgreSQL does: no
// table, the result type, no modifier; the format as the backend said.
func aggregateDescription(rd *pgproto3.RowDescription, sp *sqlrewrite.SortPlan) {
	for _, a := range sp.Aggregates {
		if a.Target >= len(rd.Fields) {
			return
		}
		f := &rd.Fields[a.Target]
		f.Name, f.TableOID, f.TableAttributeNumber = []byte(a.Name), 0, 0
		f.DataTypeOID, f.DataTypeSize, f.TypeModifier = a.OID, a.Size, -1
	}
}

// foldAggregateRow folds a row the WHERE keeps into the aggregates.
func (s *Session) foldAggregateRow(head *expectation, fields []*resultField, cells [][]byte) error {
	run := head.sort
	if run.aggs == nil {
		run.aggs = make([]aggState, len(run.plan.Aggregates))
	}
	for i, a := range run.plan.Aggregates {
		in, pe := s.aggInput(a, fields[a.Target], cells[a.Target])
		if pe == nil {
			pe = run.aggs[i].fold(run, a, in)
		}
		if pe != nil {
			return s.failSort(head, pe)
		}
	}
	return s.checkSortCap(head)
}

// checkAggregateCollations finds how min or max orders an encrypted
// text column under its collation (orderFor: C, POSIX or a libc locale),
// or refuses it, and refuses count(DISTINCT) of one whose collation is
// not deterministic. hidden holds the resolved probes (resolveProbes).
func (run *sortRun) checkAggregateCollations(hidden [][]byte) *pgerr.Error {
	for i, a := range run.plan.Aggregates {
		if a.Deterministic >= 0 && string(hidden[a.Deterministic]) != "true" {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"count(DISTINCT) of encrypted text column %s under a nondeterministic collation: phiguard compares text by its bytes", a.Column.QualifiedName())
		}
		if a.Collation < 0 {
			continue
		}
		o, pe := orderFor(a.Column, a.Func+"()", hidden[a.Collation])
		if pe != nil {
			return pe
		}
		if i < len(run.aggs) {
			run.aggs[i].order = o
		}
	}
	return nil
}

// aggInput is what one row gives one aggregate: nothing (null), a row or
// a non-NULL cell to count, or a decrypted value.
type aggInput struct {
	null  bool
	key   pgorder.Key
	plain []byte // nil: only counted
}

// aggInput reads one row's cell for one aggregate.
func (s *Session) aggInput(a sqlrewrite.Aggregate, f *resultField, cell []byte) (aggInput, *pgerr.Error) {
	switch {
	case a.Star:
		return aggInput{}, nil
	case cell == nil:
		return aggInput{null: true}, nil
	case a.Column == nil || a.Func == "count" && !a.Distinct:
		return aggInput{}, nil // a cell is NULL exactly where its value is
	}
	if f == nil || f.col == nil || f.col.Type != a.Column.Type || f.rule != nil {
		return aggInput{}, pgerr.Newf(pgerr.FeatureNotSupported,
			"phiguard cannot tell that the argument of %s() %s arrives as that encrypted column, so it cannot compute it", a.Func, a.Column.QualifiedName())
	}
	sv, plain, pe := s.openKey(f, cell)
	if pe != nil || sv.null {
		return aggInput{null: true}, pe
	}
	return aggInput{key: sv.key, plain: plain}, nil
}

// fold adds one row's input to an aggregate.
func (st *aggState) fold(run *sortRun, a sqlrewrite.Aggregate, in aggInput) *pgerr.Error {
	if in.null {
		return nil
	}
	if in.plain == nil {
		st.count++
		return nil
	}
	sv, plain := sortValue{key: in.key}, in.plain
	if a.Func == "count" {
		st.keys = append(st.keys, sv.key)
		run.held++
		run.bytes += 96 + int64(len(plain))
		return nil
	}
	if !st.seen {
		st.seen, st.best, st.bestPlain = true, sv.key, slices.Clone(plain)
		return nil
	}
	c := st.order.compare(sv.key, st.best)
	if a.Func == "max" {
		c = -c
	}
	switch {
	case c < 0:
		st.best, st.bestPlain = sv.key, slices.Clone(plain)
	case c == 0 && !bytes.Equal(plain, st.bestPlain):
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"%s() of encrypted column %s met two values PostgreSQL calls equal that print differently (such as numeric 1.0 and 1.00): which one it returns depends on the order it reads them, so phiguard cannot answer as it would", a.Func, a.Column.QualifiedName())
	}
	return nil
}

// openKey opens a cell to its canonical plaintext and reads it as a key.
// A shredded subject's cell reads as NULL, or the marker.
func (s *Session) openKey(f *resultField, cell []byte) (sortValue, []byte, *pgerr.Error) {
	col := f.col
	plain, state, pe := s.openCell(col, cell)
	if pe != nil {
		return sortValue{}, nil, pe
	}
	switch state {
	case cellcipher.Shredded:
		m := s.srv.protect.ShreddedMarker
		if m == "" || !isTextType(col) {
			return sortValue{null: true}, nil, nil
		}
		plain = []byte(m)
	case cellcipher.Legacy:
		var err error
		if plain, err = pgvalue.Canonical(col.Type, 0, cell); err != nil {
			return sortValue{}, nil, pgerr.Newf(pgerr.DataCorrupted, "a value of column %s is not a %s", col.QualifiedName(), col.Type.Name)
		}
	}
	k, err := pgorder.Parse(col.Type, plain)
	if err != nil {
		return sortValue{}, nil, pgerr.Newf(pgerr.DataCorrupted, "a value of encrypted column %s cannot be compared as %s", col.QualifiedName(), col.Type.Name)
	}
	return sortValue{key: k}, plain, nil
}

// flushAggregates sends the aggregates' row and SELECT 1 (portions.go:
// or PortalSuspended, to an Execute with a limit of one row); it returns
// the tag for the record, nil when the statement failed instead.
func (s *Session) flushAggregates(head *expectation) ([]byte, error) {
	run := head.sort
	head.sort = nil
	values := make([][]byte, len(run.plan.Aggregates))
	for i, a := range run.plan.Aggregates {
		var st aggState
		if run.aggs != nil {
			st = run.aggs[i]
		}
		v, pe := s.aggregateValue(a, &st, s.resultFormat(head, a.Target))
		if pe != nil {
			return nil, s.failSort(head, pe)
		}
		values[a.Target] = v
	}
	return s.serveRows(head, [][][]byte{values}, nil)
}

// aggregateValue is an aggregate's value in the format: a count, or the
// min or max presented as the client gets the column's values (NULL over
// no value).
func (s *Session) aggregateValue(a sqlrewrite.Aggregate, st *aggState, format int16) ([]byte, *pgerr.Error) {
	switch {
	case a.Func == "count":
		n := st.count
		if a.Distinct {
			n = distinctCount(st.keys)
		}
		return countValue(n, format), nil
	case st.seen:
		return s.presentValue(a.Column, format, st.bestPlain)
	}
	return nil, nil
}

// resultFormat is the format the client asked for column i of the result
// under head: a Query's are text, an Execute's its Bind's.
func (s *Session) resultFormat(head *expectation, i int) int16 {
	if head.kind == expExecute {
		if p := s.portals[head.name]; p != nil {
			return formatFor(p.formats, i)
		}
	}
	return 0
}

// countValue is a count as an int8 in the format.
func countValue(n int64, format int16) []byte {
	if format == 1 {
		return binary.BigEndian.AppendUint64(nil, uint64(n))
	}
	return strconv.AppendInt(nil, n, 10)
}

// distinctCount counts the values PostgreSQL would call different.
func distinctCount(keys []pgorder.Key) int64 {
	if len(keys) == 0 {
		return 0
	}
	slices.SortFunc(keys, pgorder.Compare)
	n := int64(1)
	for i := 1; i < len(keys); i++ {
		if pgorder.Compare(keys[i-1], keys[i]) != 0 {
			n++
		}
	}
	return n
}
