package guard

import (
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestTreeTruth evaluates trees of plaintext leaves on every assignment
// of true, false and NULL against SQL's truth tables: NOT NULL is NULL,
// NULL OR true is true, NULL AND false is false, NULL otherwise.
func TestTreeTruth(t *testing.T) {
	leaf := func(i int) *sqlrewrite.BoolNode { return &sqlrewrite.BoolNode{Op: sqlrewrite.BoolPlain, Index: i} }
	node := func(op sqlrewrite.BoolOp, args ...*sqlrewrite.BoolNode) *sqlrewrite.BoolNode {
		return &sqlrewrite.BoolNode{Op: op, Args: args}
	}
	// NOT (a OR b) AND (c OR NOT a)
	tree := node(sqlrewrite.BoolAnd, node(sqlrewrite.BoolNot, node(sqlrewrite.BoolOr, leaf(0), leaf(1))),
		node(sqlrewrite.BoolOr, leaf(2), node(sqlrewrite.BoolNot, leaf(0))))
	// The truth tables written out, as PostgreSQL documents them.
	not := map[tri]tri{triTrue: triFalse, triFalse: triTrue, triNull: triNull}
	or := func(x, y tri) tri {
		if x == triTrue || y == triTrue {
			return triTrue
		}
		if x == triNull || y == triNull {
			return triNull
		}
		return triFalse
	}
	and := func(x, y tri) tri { return not[or(not[x], not[y])] }
	wire := map[tri][]byte{triTrue: []byte("true"), triFalse: []byte("false"), triNull: nil}
	s, run := &Session{}, &sortRun{plan: &sqlrewrite.SortPlan{}}
	all := []tri{triTrue, triFalse, triNull}
	kept := 0
	for _, a := range all {
		for _, b := range all {
			for _, c := range all {
				want := and(not[or(a, b)], or(c, not[a]))
				got, pe := s.treeTruth(run, tree, nil, [][]byte{wire[a], wire[b], wire[c]}, 0)
				if pe != nil || got != want {
					t.Errorf("a=%v b=%v c=%v: %v (%v), want %v", a, b, c, got, pe, want)
				}
				if got == triTrue {
					kept++
				}
			}
		}
	}
	if kept == 0 {
		t.Fatal("no assignment keeps the row")
	}
	if _, pe := plainTruth([]byte("t")); pe == nil {
		t.Error("a truth other than CAST(bool AS text)'s was read")
	}
	if _, pe := s.treeTruth(run, &sqlrewrite.BoolNode{Op: sqlrewrite.BoolFilter, Index: -1}, nil, nil, 0); pe == nil {
		t.Error("a tree naming no filter was evaluated")
	}
}
