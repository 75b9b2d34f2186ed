package sqlrewrite

import (
	"slices"
	"strings"
	"sync/atomic"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// The access rewriter's changes are edits of the client's own text: a
// FROM item replaced by its row rule's subquery, a DML statement's WHERE
// replaced by the rule and the guarded condition, a value or an INSERT's
// source wrapped in its write check. An edit's new text is phiguard's
// own fragment, deparsed from the nodes the walker built, around copies
// of the client's text (the condition, the value, the source query) with
// the edits inside them applied. So what the client wrote reaches
// PostgreSQL as written, and the text outside the edits keeps its place.
//
// The walker still changes its tree the same way, and the edited text
// must parse to that tree (locations aside, sameStatements): if it does
// not, or a place in the text was not found, the statement is written
// whole from the tree by pg_query's deparser, as before this file, and
// accessTextFallbacks counts it (tests assert it stays zero).

// accessTextFallbacks counts the rewrites written whole from the tree.
var accessTextFallbacks atomic.Int64

// clientMarker names, inside a fragment being deparsed, the place of a
// copy of the client's text. The random part makes it a name no client
// text holds.
var clientMarker = randomName("phiguardclient") // access_template.go

// markerNode is a column reference to clientMarker.
func markerNode() *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_ColumnRef{ColumnRef: &pg_query.ColumnRef{
		Fields: []*pg_query.Node{pg_query.MakeStrNode(clientMarker)}}}}
}

// accessEdit replaces the client's text at span with what render writes,
// at the end of the walk (an injected subquery gains the level's copied
// conditions after its FROM item is walked).
type accessEdit struct {
	span   [2]int
	render func() string
	done   bool // written, or copied into an enclosing edit
	item   bool // a FROM item's (replaceItem)
}

// accessText is the client's text and the edits of it.
type accessText struct {
	sql   string
	toks  []*pg_query.ScanToken
	edits []*accessEdit
	lost  bool // a place was not found or a fragment not written
}

// tokens scans the text once, on the first edit.
func (t *accessText) tokens() []*pg_query.ScanToken {
	if t.toks == nil && !t.lost {
		res, err := pg_query.Scan(t.sql)
		if err != nil {
			t.lost = true
			return nil
		}
		t.toks = res.GetTokens()
		for _, tok := range t.toks {
			if k := tok.GetToken(); k == pg_query.Token_UIDENT || k == pg_query.Token_USCONST {
				tok.End = int32(unicodeQuotedEnd(t.sql, int(tok.GetStart()), int(tok.GetEnd())))
			}
		}
	}
	return t.toks
}

// unicodeQuotedEnd is the end of the U&"..." name or U&'...' string that
// starts at start: the scanner ends the token after its U (or at its
// start), so that the name or string was no part of any span. end when
// the text there is not one.
func unicodeQuotedEnd(sql string, start, end int) int {
	if start+3 > len(sql) || sql[start]|0x20 != 'u' || sql[start+1] != '&' || sql[start+2] != '"' && sql[start+2] != '\'' {
		return end
	}
	q := sql[start+2]
	for i := start + 3; i < len(sql); i++ {
		if sql[i] != q {
			continue
		}
		if i+1 < len(sql) && sql[i+1] == q { // a doubled quote
			i++
			continue
		}
		return i + 1
	}
	return end
}

// replace records an edit; ok false (the place was not found) loses the
// text.
func (t *accessText) replace(span [2]int, ok bool, render func() string) {
	t.record(span, ok, render, false)
}

// replaceItem records the edit of a FROM item. A second one of the same
// text is dropped: the parser gives each column of UPDATE ... SET (a, b)
// = (SELECT ...) its own copy of the one subquery, and the walker changes
// each alike, so the text's one copy is written once (the check of the
// tree tells if they differ). Another kind of edit of the same text, the
// check around INSERT INTO t TABLE t's source, holds the item's edit.
func (t *accessText) replaceItem(span [2]int, ok bool, render func() string) {
	for _, e := range t.edits {
		if e.item && e.span == span {
			return
		}
	}
	t.record(span, ok, render, true)
}

func (t *accessText) record(span [2]int, ok bool, render func() string, item bool) {
	if !ok || span[0] < 0 || span[0] > span[1] || span[1] > len(t.sql) {
		t.lost = true
		return
	}
	t.edits = append(t.edits, &accessEdit{span: span, render: render, item: item})
}

// client is the client's text at span with the edits inside it applied;
// those edits are then done. The latest edit is written first: an edit
// that copies client text is recorded after the edits inside that text
// (the walk reaches them first), and takes them into its copy.
func (t *accessText) client(span [2]int) string {
	var edits []Edit
	whole := span == [2]int{0, len(t.sql)}
	for i := len(t.edits) - 1; i >= 0; i-- {
		e := t.edits[i]
		if e.done || !whole && !within(e.span, span) {
			continue
		}
		e.done = true
		// Spaced where a word of the client's touches it: WHERE(id = 1)
		// and "notes"WHERE are the client's words, WHEREpatient is not.
		text := spacedEdit(t.sql, e.span[0], e.span[1], e.render())
		edits = append(edits, Edit{Span: [2]int{e.span[0] - span[0], e.span[1] - span[0]}, Text: text})
	}
	out, ok := Splice([]byte(t.sql[span[0]:span[1]]), edits)
	if !ok {
		t.lost = true
	}
	return string(out)
}

// within says whether inner lies in outer; an insertion only strictly
// inside (one at an end belongs to the text around: a WHERE added after
// an UPDATE's last SET value is not part of that value).
func within(inner, outer [2]int) bool {
	if inner[0] == inner[1] {
		return outer[0] < inner[0] && inner[0] < outer[1]
	}
	return outer[0] <= inner[0] && inner[1] <= outer[1]
}

// result is the whole edited text; false when it cannot be trusted.
func (t *accessText) result() (string, bool) {
	out := t.client([2]int{0, len(t.sql)})
	return out, !t.lost
}

// fill writes frag with each marker replaced by the client's text at
// span, in parentheses unless it is one token (a literal, a parameter, a
// name), which no operator around it can split.
func (t *accessText) fill(frag string, span [2]int) string {
	text := t.client(span)
	if t.tokensIn(span) != 1 {
		text = "(" + text + ")"
	}
	return strings.ReplaceAll(frag, clientMarker, text)
}

// tokensIn counts the tokens in span, comments aside, up to 2, which is
// all fill asks: it asks once per checked value, so a scan of the whole
// text each time was quadratic in a long VALUES list.
func (t *accessText) tokensIn(span [2]int) int {
	toks := t.tokens()
	i, _ := t.tokenFrom(int32(span[0]))
	n := 0
	for ; i < len(toks) && int(toks[i].GetStart()) < span[1] && n < 2; i++ {
		if int(toks[i].GetEnd()) <= span[1] && !isComment(toks[i]) {
			n++
		}
	}
	return n
}

// exprText is phiguard's text of an expression it built.
func (t *accessText) exprText(n *pg_query.Node) string {
	sel := &pg_query.SelectStmt{TargetList: []*pg_query.Node{{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: n}}}}}
	return t.deparsed(sel, "SELECT ")
}

// fromItemText is phiguard's text of a FROM item it built.
func (t *accessText) fromItemText(item *pg_query.Node) string {
	return t.deparsed(&pg_query.SelectStmt{TargetList: []*pg_query.Node{starTarget()}, FromClause: []*pg_query.Node{item}}, "SELECT * FROM ")
}

// starTarget is the select list entry *.
func starTarget() *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{
		Val: &pg_query.Node{Node: &pg_query.Node_ColumnRef{ColumnRef: &pg_query.ColumnRef{
			Fields: []*pg_query.Node{{Node: &pg_query.Node_AStar{AStar: &pg_query.A_Star{}}}}}}}}}}
}

// selectText is phiguard's text of a query it built.
func (t *accessText) selectText(sel *pg_query.SelectStmt) string { return t.deparsed(sel, "") }

// deparsed writes sel and cuts prefix off the front.
func (t *accessText) deparsed(sel *pg_query.SelectStmt, prefix string) string {
	out, err := pg_query.Deparse(&pg_query.ParseResult{Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}}}}})
	if err != nil || !strings.HasPrefix(out, prefix) {
		t.lost = true
		return ""
	}
	return out[len(prefix):]
}

// flatBool takes into args a first argument of the same operator, as
// PostgreSQL's parser does for a AND b AND c (makeAndExpr, makeOrExpr:
// the left operand only).
func flatBool(op pg_query.BoolExprType, args []*pg_query.Node) []*pg_query.Node {
	if op == pg_query.BoolExprType_NOT_EXPR || len(args) == 0 {
		return args
	}
	first := args[0].GetBoolExpr()
	if first == nil || first.GetBoolop() != op {
		return args
	}
	return append(flatBool(op, first.GetArgs()), args[1:]...)
}

// tokenAt is the index of the token that starts at loc, -1 when none.
func (t *accessText) tokenAt(loc int32) int {
	if i, found := t.tokenFrom(loc); found {
		return i
	}
	return -1
}

// tokenFrom is the index of the first token that starts at loc or after
// it, and whether one starts at loc.
func (t *accessText) tokenFrom(loc int32) (int, bool) {
	return slices.BinarySearchFunc(t.tokens(), loc, func(tok *pg_query.ScanToken, loc int32) int {
		return int(tok.GetStart() - loc)
	})
}

// nextReal is the index of the first token after i that is not a
// comment, -1 when none.
func (t *accessText) nextReal(i int) int {
	toks := t.tokens()
	for i++; i < len(toks); i++ {
		if !isComment(toks[i]) {
			return i
		}
	}
	return -1
}

// is says whether toks[i] exists and is tok.
func (t *accessText) is(i int, tok pg_query.Token) bool {
	return i >= 0 && i < len(t.toks) && t.toks[i].GetToken() == tok
}

// closing is the index of the parenthesis that closes the one at i.
func (t *accessText) closing(i int) int {
	depth := 0
	for ; i < len(t.toks); i++ {
		switch t.toks[i].GetToken() {
		case pg_query.Token_ASCII_40:
			depth++
		case pg_query.Token_ASCII_41:
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// span is the text from the start of token i to the end of token j.
func (t *accessText) span(i, j int) ([2]int, bool) {
	if i < 0 || j < i || j >= len(t.toks) {
		return [2]int{}, false
	}
	return [2]int{int(t.toks[i].GetStart()), int(t.toks[j].GetEnd())}, true
}
