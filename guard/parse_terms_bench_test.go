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

const parseTermsPolicy = `
version: 1
tables:
  public.patients:
    columns:
      last:      {mode: randomized, key: k, type: text, search: [order, match], search_key_version: 1, search_state: ready, state: encrypted}
      birthdate: {mode: randomized, key: k, type: date, search: [order], search_key_version: 1, search_state: ready, state: encrypted}
`

// BenchmarkParseTerms is the term constants a Parse of bench/search's
// first and third queries computes (filterTerms, as parseTerms calls
// it): the match terms of `last ILIKE 'gle%'` (prefix key and tokens)
// and the two order terms of `birthdate BETWEEN '1950-01-01' AND
// '1950-03-31'`. One session throughout, as a client's connection: what
// the keyring and the catalog keep between statements counts.
func BenchmarkParseTerms(b *testing.B) {
	s, ilike, between := parseTermsSession(b)
	for _, c := range []struct {
		name string
		sp   *sqlrewrite.SortPlan
		lits []filterArgs
	}{
		{"ilike", ilike, []filterArgs{{args: [2]filterArg{{pattern: []byte("gle%")}}}}},
		{"between", between, []filterArgs{{args: [2]filterArg{{canon: []byte("1950-01-01")}, {canon: []byte("1950-03-31")}}}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				terms, _, _ := s.filterTerms(c.sp, c.lits, nil, 0)
				if len(terms) != 1 || terms[0] == nil {
					b.Fatal("no term")
				}
			}
		})
	}
}

// TestParseTermsBench: BenchmarkParseTerms's statements get their terms
// (a prefix key and no token for 'gle%'; two 8-byte order terms for the
// dates, the first below the second), the same at each call.
func TestParseTermsBench(t *testing.T) {
	s, ilike, between := parseTermsSession(t)
	lits := []filterArgs{{args: [2]filterArg{{pattern: []byte("gle%")}}}}
	for range 2 {
		terms, _, _ := s.filterTerms(ilike, lits, nil, 0)
		if len(terms) != 1 || len(terms[0]) != 2 || len(terms[0][0].Value) == 0 || terms[0][1].Tokens != nil {
			t.Fatalf("ilike terms %v", terms)
		}
	}
	lits = []filterArgs{{args: [2]filterArg{{canon: []byte("1950-01-01")}, {canon: []byte("1950-03-31")}}}}
	var first []byte
	for range 2 {
		terms, _, _ := s.filterTerms(between, lits, nil, 0)
		if len(terms) != 1 || len(terms[0]) != 2 || len(terms[0][0].Value) != 8 || string(terms[0][0].Value) >= string(terms[0][1].Value) {
			t.Fatalf("between terms %v", terms)
		}
		if first != nil && string(first) != string(terms[0][0].Value) {
			t.Fatal("the order term changed between two Parses")
		}
		first = terms[0][0].Value
	}
}

// parseTermsSession is a session over parseTermsPolicy whose catalog
// gives last the C collation, with its terms recorded as built under it,
// and the two plans' filters with their terms.
func parseTermsSession(tb testing.TB) (*Session, *sqlrewrite.SortPlan, *sqlrewrite.SortPlan) {
	pol, kr := policyAndKeyring(tb, parseTermsPolicy)
	s := &Session{srv: &Shared{protect: &Protection{Policy: pol, Keyring: kr}, metrics: NewMetrics(prometheus.NewRegistry())}, log: zap.NewNop()}
	s.cw = bufio.NewWriter(io.Discard)
	last, _ := pol.Column("public", "patients", "last")
	born, _ := pol.Column("public", "patients", "birthdate")
	tab := policy.TableName{Schema: "public", Name: "patients"}
	s.catalog.Store(&catalog{
		tables:     map[policy.TableName][]catalogColumn{tab: {{name: "last", protected: last, collation: 950}, {name: "birthdate", protected: born}}},
		collations: map[uint32]collationEntry{950: {collate: []byte("c::C"), ctype: []byte("c::C")}},
		termRecords: map[termRecordKey]termRecord{
			termRecordKey(recordKey(nil, tab, "last", termRecordOrder)): {"C", ""},
			termRecordKey(recordKey(nil, tab, "last", termRecordMatch)): {"C", ""},
		},
	})
	ilike := &sqlrewrite.SortPlan{Filters: []sqlrewrite.Filter{{Column: last, Op: sqlrewrite.FilterILike, Term: sqlrewrite.TermMatch, Value: -1, Collation: -1, Encoding: -1, Ctype: -1, DefaultCtype: -1}}}
	between := &sqlrewrite.SortPlan{Filters: []sqlrewrite.Filter{{Column: born, Op: sqlrewrite.FilterBetween, Term: sqlrewrite.TermOrd, Value: -1, Collation: -1, Encoding: -1, Ctype: -1, DefaultCtype: -1}}}
	return s, ilike, between
}

// TestRecordKey: a record key names the table as policy.TableName.String
// writes it, quoted where it needs quotes, as install records it.
func TestRecordKey(t *testing.T) {
	for _, tn := range []policy.TableName{{Schema: "public", Name: "patients"}, {Schema: "My Schema", Name: `Pa"ts`}} {
		want := tn.String() + "\x00c\x00o"
		if got := string(recordKey(nil, tn, "c", "o")); got != want {
			t.Errorf("%s: key %q, want %q", tn, got, want)
		}
	}
}
