package guard

import (
	"bufio"
	"io"
	"testing"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

const markerTermsPolicy = `
version: 1
tables:
  public.people:
    subject_column: id
    columns:
      name: {mode: randomized, key: k, type: text, search: [equality, order, match], search_key_version: 1, search_state: ready, state: encrypted}
      born: {mode: randomized, key: k, type: date, search: [order], search_key_version: 1, search_state: ready, state: encrypted}
  public.plain:
    columns:
      name: {mode: randomized, key: k, type: text, search: [order], search_key_version: 1, search_state: ready, state: encrypted}
`

// markerTermsSession is a session over markerTermsPolicy with the
// shredded marker "[shredded]", its text columns under the C collation
// with their terms recorded as built under it.
func markerTermsSession(t *testing.T) (*Session, map[string]*policy.ProtectedColumn) {
	t.Helper()
	pol, kr := policyAndKeyring(t, markerTermsPolicy)
	s := &Session{srv: &Shared{protect: &Protection{Policy: pol, Keyring: kr, ShreddedMarker: "[shredded]"},
		metrics: NewMetrics(prometheus.NewRegistry())}, log: zap.NewNop()}
	s.cw = bufio.NewWriter(io.Discard)
	cols := map[string]*policy.ProtectedColumn{}
	cols["name"], _ = pol.Column("public", "people", "name")
	cols["born"], _ = pol.Column("public", "people", "born")
	cols["plain"], _ = pol.Column("public", "plain", "name")
	people, plain := policy.TableName{Schema: "public", Name: "people"}, policy.TableName{Schema: "public", Name: "plain"}
	s.catalog.Store(&catalog{
		tables: map[policy.TableName][]catalogColumn{
			people: {{name: "name", protected: cols["name"], collation: 950}, {name: "born", protected: cols["born"]}},
			plain:  {{name: "name", protected: cols["plain"], collation: 950}},
		},
		collations: map[uint32]collationEntry{950: {collate: []byte("c::C"), ctype: []byte("c::C")}},
		termRecords: map[termRecordKey]termRecord{
			termRecordKey(recordKey(nil, people, "name", termRecordOrder)): {"C", ""},
			termRecordKey(recordKey(nil, people, "name", termRecordMatch)): {"C", ""},
			termRecordKey(recordKey(nil, plain, "name", termRecordOrder)):  {"C", ""},
		},
	})
	return s, cols
}

// markerFilterCase is one filter of a statement and its constants: a
// literal (canon, or a LIKE's pattern), NULL, or a parameter.
type markerFilterCase struct {
	col   string
	op    sqlrewrite.FilterOp
	args  []string // "$" a parameter, "NULL" NULL
	param []string // the parameters' values at Bind
}

func markerPlan(cols map[string]*policy.ProtectedColumn, fs []markerFilterCase, bound bool) (*sqlrewrite.SortPlan, []filterArgs) {
	sp := &sqlrewrite.SortPlan{}
	args := make([]filterArgs, len(fs))
	for i, c := range fs {
		f := sqlrewrite.Filter{Column: cols[c.col], Op: c.op, Value: -1, Collation: -1, Encoding: -1, Ctype: -1, DefaultCtype: -1}
		switch {
		case c.op.Like():
			f.Term = sqlrewrite.TermMatch
		case c.op == sqlrewrite.FilterEq && f.Column.Search.Has(policy.SearchEquality):
			f.Term = sqlrewrite.TermEq
		case c.op != sqlrewrite.FilterNe:
			f.Term = sqlrewrite.TermOrd
		}
		for j, a := range c.args {
			v := []byte(a)
			if a == "$" {
				f.Args[j].Param = j + 1
				if !bound {
					continue
				}
				v = []byte(c.param[j])
			}
			switch {
			case a == "NULL":
				f.Args[j].Null, args[i].args[j].null = true, true
			case c.op.Like():
				args[i].args[j].pattern = v
			default:
				args[i].args[j].canon = v
			}
		}
		sp.Filters = append(sp.Filters, f)
	}
	return sp, args
}

// TestMarkerTerms: which term conjuncts a statement leaves out for the
// shredded marker "[shredded]" (C collation: '[' sorts after 'Z', before
// 'a'): those of a marker column (text, sealed per subject) whose WHERE
// conjuncts the marker satisfies all; none when one is false for it,
// none of a column not sealed per subject or not text, none without a
// marker; a parameter's column waits for the Bind, which decides.
func TestMarkerTerms(t *testing.T) {
	s, cols := markerTermsSession(t)
	ge, lt, eq := sqlrewrite.FilterGe, sqlrewrite.FilterLt, sqlrewrite.FilterEq
	for _, c := range []struct {
		name    string
		filters []markerFilterCase
		drop    []bool // nil: none left out
		pending int
		bind    []bool // the drop a Bind with the parameters' values gives
	}{
		{"range holding the marker", []markerFilterCase{{"name", ge, []string{"Z"}, nil}, {"name", lt, []string{"a"}, nil}}, []bool{true, true}, 0, nil},
		{"range without it", []markerFilterCase{{"name", ge, []string{"A"}, nil}, {"name", lt, []string{"Z"}, nil}}, nil, 0, nil},
		{"one conjunct false", []markerFilterCase{{"name", ge, []string{"Z"}, nil}, {"name", eq, []string{"N05"}, nil}}, nil, 0, nil},
		{"equal to it", []markerFilterCase{{"name", eq, []string{"[shredded]"}, nil}}, []bool{true}, 0, nil},
		{"NULL", []markerFilterCase{{"name", eq, []string{"NULL"}, nil}}, nil, 0, nil},
		{"BETWEEN", []markerFilterCase{{"name", sqlrewrite.FilterBetween, []string{"Y", "b"}, nil}}, []bool{true}, 0, nil},
		{"ILIKE", []markerFilterCase{{"name", sqlrewrite.FilterILike, []string{"%SHRED%"}, nil}}, []bool{true}, 0, nil},
		{"ILIKE missing", []markerFilterCase{{"name", sqlrewrite.FilterILike, []string{"%xyz%"}, nil}}, nil, 0, nil},
		{"LIKE is case-sensitive", []markerFilterCase{{"name", sqlrewrite.FilterLike, []string{"%SHRED%"}, nil}}, nil, 0, nil},
		{"LIKE prefix", []markerFilterCase{{"name", sqlrewrite.FilterLike, []string{"[shr%"}, nil}}, []bool{true}, 0, nil},
		{"<> not evaluated", []markerFilterCase{{"name", ge, []string{"Z"}, nil}, {"name", sqlrewrite.FilterNe, []string{"x"}, nil}}, []bool{true, true}, 0, nil},
		{"another column kept", []markerFilterCase{{"name", eq, []string{"[shredded]"}, nil}, {"born", ge, []string{"2000-01-01"}, nil}}, []bool{true, false}, 0, nil},
		{"not per subject", []markerFilterCase{{"plain", ge, []string{"Z"}, nil}}, nil, 0, nil},
		{"parameter holding it", []markerFilterCase{{"name", ge, []string{"$"}, []string{"Z"}}}, nil, 1, []bool{true}},
		{"parameter not holding it", []markerFilterCase{{"name", ge, []string{"$"}, []string{"b"}}}, nil, 1, nil},
		{"literal false beside a parameter", []markerFilterCase{{"name", eq, []string{"N05"}, nil}, {"name", ge, []string{"$"}, []string{"Z"}}}, nil, 0, nil},
	} {
		sp, args := markerPlan(cols, c.filters, false)
		drop, pending := s.markerTerms(sp, args, false)
		if !sameDrop(drop, c.drop) || len(pending) != c.pending {
			t.Errorf("%s: drop %v, %d pending; want %v, %d", c.name, drop, len(pending), c.drop, c.pending)
		}
		terms, _, _ := s.filterTerms(sp, args, map[int]uint32{1: policy.OIDText}, 0)
		for i := range c.filters {
			if c.filters[i].args[0] == "$" || c.filters[i].op == sqlrewrite.FilterNe || c.filters[i].args[0] == "NULL" {
				continue
			}
			if dropped := c.drop != nil && c.drop[i]; (terms[i] == nil) != dropped {
				t.Errorf("%s: filter %d's term %v, dropped %v", c.name, i, terms[i], dropped)
			}
		}
		if c.pending > 0 {
			sp, args = markerPlan(cols, c.filters, true)
			if drop, pending := s.markerTerms(sp, args, true); !sameDrop(drop, c.bind) || pending != nil {
				t.Errorf("%s at Bind: drop %v, %d pending; want %v", c.name, drop, len(pending), c.bind)
			}
		}
	}
	s.srv.protect.ShreddedMarker = ""
	sp, args := markerPlan(cols, []markerFilterCase{{"name", eq, []string{"[shredded]"}, nil}}, false)
	if drop, pending := s.markerTerms(sp, args, false); drop != nil || pending != nil {
		t.Errorf("without a marker: drop %v, %d pending", drop, len(pending))
	}
}

func sameDrop(got, want []bool) bool {
	any := func(d []bool) bool {
		for _, b := range d {
			if b {
				return true
			}
		}
		return false
	}
	if !any(got) || !any(want) {
		return any(got) == any(want)
	}
	for i := range want {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestMarkerTermsPerReference: a self-join's a.name and b.name (one
// column, two Refs) get a verdict each: a.name = 'N05' is false for the
// marker and keeps a.name's term, while b.name >= 'Z' holds for it and
// b.name sends none (a verdict per column kept both: b's shredded rows
// were not fetched).
func TestMarkerTermsPerReference(t *testing.T) {
	s, cols := markerTermsSession(t)
	sp, args := markerPlan(cols, []markerFilterCase{
		{"name", sqlrewrite.FilterEq, []string{"N05"}, nil},
		{"name", sqlrewrite.FilterGe, []string{"Z"}, nil},
	}, false)
	sp.Filters[0].Ref, sp.Filters[1].Ref = 1, 2
	if drop, pending := s.markerTerms(sp, args, false); !sameDrop(drop, []bool{false, true}) || pending != nil {
		t.Errorf("two references: drop %v, %d pending", drop, len(pending))
	}
	sp.Filters[1].Ref = 1
	if drop, _ := s.markerTerms(sp, args, false); drop != nil {
		t.Errorf("one reference: drop %v", drop)
	}
}
