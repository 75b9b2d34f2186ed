package sqlrewrite

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rowRule is the role's row rule for a table as the statement names it.
// An unqualified name may mean a table of that name in any schema; when
// rules for it exist in several schemas phiguard cannot tell which one
// search_path picks, and refuses.
func (w *accessWalker) rowRule(schema, name string) *policy.RowRule {
	if schema != "" {
		r, _ := w.role.RowRule(schema, name)
		return r
	}
	rules := w.role.RowRulesNamed(name)
	switch len(rules) {
	case 0:
		return nil
	case 1:
		return rules[0]
	}
	w.refuseConstruct(rules[0].Name, name, "the unqualified name %s matches row rules in several schemas; qualify it with its schema", policy.QuoteIdentifier(name))
	return nil
}

// ruleTemplates caches each rule text parsed once (its bare expression)
// and the type names of write checks.
var ruleTemplates sync.Map // string -> *pg_query.Node or *pg_query.TypeName

// ruleExpr returns a fresh copy of the rule's expression.
func ruleExpr(using string) *pg_query.Node {
	key := "expr\x00" + using
	if t, ok := ruleTemplates.Load(key); ok {
		return proto.Clone(t.(*pg_query.Node)).(*pg_query.Node)
	}
	e, err := ruleWhere(using)
	if err != nil {
		return nil
	}
	ruleTemplates.Store(key, e)
	return proto.Clone(e).(*pg_query.Node)
}

// injectRowRule replaces a FROM item naming a table with a subquery that
// reads the table through the rule, under the same alias.
func (w *accessWalker) injectRowRule(item *pg_query.Node, rv *pg_query.RangeVar, rule *policy.RowRule) *injection {
	// The table inside is named with its schema, like every name of the
	// rule, so that nothing of the user's can stand in for it.
	inner := proto.Clone(rv).(*pg_query.RangeVar)
	inner.Alias = nil
	inner.Catalogname, inner.Schemaname = "", rule.Table.Schema
	sub := w.boundRuleSelect(rule, inner)
	alias := &pg_query.Alias{Aliasname: rv.GetRelname()}
	if rv.GetAlias() != nil {
		alias = proto.Clone(rv.GetAlias()).(*pg_query.Alias)
	}
	span, table, ok := w.text.relationSpan(rv)
	item.Node = &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{
		Subquery: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sub}},
		Alias:    alias,
	}}
	// Written at the end: pushDown adds the level's conditions to sub.
	w.text.replaceItem(span, ok, func() string {
		if table {
			return "SELECT * FROM " + w.text.fromItemText(item)
		}
		return w.text.fromItemText(item)
	})
	w.changed, w.touched = true, true
	w.acc.Decisions = append(w.acc.Decisions, Decision{Table: rule.Table.String(), Rule: rule.Name, Effect: "rows filtered"})
	return &injection{rv: inner, sel: sub}
}

// injection is a row rule put into a FROM item, kept so that the level's
// equality conditions can be copied into it.
type injection struct {
	rv  *pg_query.RangeVar   // the table inside the subquery
	sel *pg_query.SelectStmt // the subquery
}

// pushDown copies the level's `column = constant` conditions on an
// injected table into its subquery, so that an index on the column still
// serves the lookup behind the fence. Equality of a column with a constant
// or parameter is a leakproof comparison for PostgreSQL's built-in types:
// it cannot raise an error that depends on the row, so evaluating it on
// hidden rows tells nobody anything. The condition stays outside as well.
func (w *accessWalker) pushDown(where *pg_query.Node, sc *accessScope) {
	if where == nil {
		return
	}
	for _, conj := range conjuncts(where) {
		ref, ok := equalityWithConstant(conj)
		if !ok {
			continue
		}
		rel := w.injectionFor(ref, sc)
		if rel == nil {
			continue
		}
		inj := rel.inj
		c := proto.Clone(conj).(*pg_query.Node)
		r, _ := equalityWithConstant(c)
		r.Fields = r.Fields[len(r.Fields)-1:]
		inj.sel.WhereClause = andNodes(inj.sel.GetWhereClause(), c)
	}
}

// injectionFor finds the injected table of this level a column reference
// (col or q.col) names, bound by the one binder (bind_columns.go): the
// item q names, or the one item where an unqualified name binds; it must
// be of this level, and the catalog must list the column under that
// name at the place the item has it (not renamed by an alias).
func (w *accessWalker) injectionFor(ref *pg_query.ColumnRef, sc *accessScope) *accessRel {
	fields := ref.GetFields()
	col := lastField(ref)
	var found *accessRel
	if len(fields) == 1 {
		b := bindColumnName[*accessScope, *accessRel](sc, col)
		if len(b.items) != 1 {
			return nil // no item, or several (PostgreSQL: ambiguous)
		}
		found = b.items[0]
	} else if r, ok := namedItem[*accessScope, *accessRel](sc, "", fields[0].GetString_().GetSval()); ok {
		found = r
	}
	if found == nil || found.inj == nil || !slices.Contains(sc.rels, found) {
		return nil
	}
	cols, ok := w.objs.Columns(found.schema, found.relname)
	if !ok {
		return nil
	}
	// The name must be the table's own column at its place: an alias's
	// column list renames by position (clinical_notes AS n(id, patient,
	// encounter, note, author): n.note is author), and the copy inside
	// the rule's subquery reads the table's own names (red team 36: no
	// row, where PostgreSQL answers the role's notes by dr_bob).
	i := slices.IndexFunc(found.columns, func(c accessOutput) bool { return c.name == col })
	if i < 0 || i >= len(cols) || cols[i] != col {
		return nil
	}
	return found
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// conjuncts splits a condition on its top-level ANDs.
func conjuncts(n *pg_query.Node) []*pg_query.Node {
	if b := n.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		var out []*pg_query.Node
		for _, a := range b.GetArgs() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*pg_query.Node{n}
}

// equalityWithConstant matches `col = constant` (either way round), where
// constant is a literal or parameter, possibly cast.
func equalityWithConstant(n *pg_query.Node) (*pg_query.ColumnRef, bool) {
	e := n.GetAExpr()
	if e == nil || e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || len(e.GetName()) != 1 || e.GetName()[0].GetString_().GetSval() != "=" {
		return nil, false
	}
	l, r := e.GetLexpr(), e.GetRexpr()
	if isConstant(r) && l.GetColumnRef() != nil && plainRef(l.GetColumnRef()) {
		return l.GetColumnRef(), true
	}
	if isConstant(l) && r.GetColumnRef() != nil && plainRef(r.GetColumnRef()) {
		return r.GetColumnRef(), true
	}
	return nil, false
}

func plainRef(ref *pg_query.ColumnRef) bool {
	f := ref.GetFields()
	if len(f) == 0 || len(f) > 2 {
		return false
	}
	for _, x := range f {
		if x.GetString_() == nil {
			return false
		}
	}
	return true
}

func isConstant(n *pg_query.Node) bool {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.GetArg()
	}
	return n.GetAConst() != nil || n.GetParamRef() != nil
}

func andNodes(a, b *pg_query.Node) *pg_query.Node {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return &pg_query.Node{Node: &pg_query.Node_BoolExpr{BoolExpr: &pg_query.BoolExpr{
		Boolop: pg_query.BoolExprType_AND_EXPR, Args: []*pg_query.Node{a, b}}}}
}

// ruleColumns lists the column names a rule expression mentions anywhere:
// an over-approximation of the columns of the table it reads.
func ruleColumns(using string) map[string]bool {
	out := map[string]bool{}
	e := ruleExpr(using)
	if e == nil {
		return out
	}
	collectColumnRefs(e, out)
	return out
}

func collectColumnRefs(n *pg_query.Node, out map[string]bool) {
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if ref, ok := m.Interface().(*pg_query.ColumnRef); ok {
			out[lastField(ref)] = true
		}
	})
}

// checkMarker is the text a write check puts in the error it raises when
// a new row fails the rule; the proxy maps it back to the rule (see
// WriteCheckRefusal). It is stable per policy version and rule, so a
// statement prepared once keeps working, and says nothing of the row.
func checkMarker(pol *policy.Policy, rule *policy.RowRule) string {
	sum := sha256.Sum256([]byte(pol.Version() + "\x00" + rule.Name))
	m := "phiguard_rowcheck_" + hex.EncodeToString(sum[:8])
	writeChecks.Store(m, rule)
	return m
}

var writeChecks sync.Map // marker -> *policy.RowRule

// WriteCheckRefusal recognises the error a write check raises in the
// backend (its message holds the check's marker) and returns the refusal
// to send the client instead.
func WriteCheckRefusal(message string) (*Refusal, bool) {
	i := strings.Index(message, "phiguard_rowcheck_")
	if i < 0 || len(message) < i+len("phiguard_rowcheck_")+16 {
		return nil, false
	}
	v, ok := writeChecks.Load(message[i : i+len("phiguard_rowcheck_")+16])
	if !ok {
		return nil, false
	}
	rule := v.(*policy.RowRule)
	return &Refusal{Code: pgerr.InsufficientPrivilege, Table: rule.Table.String(), Rule: rule.Name,
		Message: "new row violates the row rule of table " + rule.Table.String() + " for role " + rule.Role.Name + " (rule \"" + rule.Name + "\"): the role could not see it"}, true
}
