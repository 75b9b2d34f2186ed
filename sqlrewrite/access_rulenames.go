package sqlrewrite

import (
	"fmt"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A row rule is pasted into the user's statement, where the user controls
// what unqualified names mean: a CTE named like a table the rule reads
// (`WITH care_teams AS (VALUES (current_user, '<any patient>'))`) would
// stand in for it, and so could a temporary table or another search_path.
// So before a rule is injected, every relation, function and operator it
// names is bound to its schema against the database's catalog (Objects),
// once per rule text and catalog version, and injected schema-qualified:
// PostgreSQL never resolves a qualified name through a CTE, pg_temp or
// search_path. A name that cannot be bound to exactly one schema makes the
// rule refuse the statement, naming the name, rather than guess.

// boundRule is a rule expression with its names bound, or why they could
// not be, for one catalog version.
type boundRule struct {
	version string
	expr    *pg_query.Node
	problem string
}

// boundRules caches the bound expression of each rule text; an entry made
// under an older catalog version is replaced, so the cache holds one entry
// per rule text however often the catalog changes.
var boundRules sync.Map // rule text -> *boundRule

// boundRuleExpr returns a fresh copy of the rule's expression with its
// names bound, or refuses the statement when they cannot be.
func (w *accessWalker) boundRuleExpr(rule *policy.RowRule) *pg_query.Node {
	version := w.objs.Version()
	b, ok := boundRules.Load(rule.Using)
	if !ok || b.(*boundRule).version != version {
		nb := &boundRule{version: version}
		if e := ruleExpr(rule.Using); e == nil {
			nb.problem = "the row rule does not parse"
		} else if err := bindRuleNames(e, w.objs); err != nil {
			nb.problem = err.Error()
		} else {
			nb.expr = e
		}
		boundRules.Store(rule.Using, nb)
		b = nb
	}
	br := b.(*boundRule)
	if br.expr == nil {
		w.refuseConstruct(rule.Name, rule.Table.String(), "%s", br.problem)
	}
	return proto.Clone(br.expr).(*pg_query.Node)
}

// boundRuleSelect returns `SELECT * FROM <schema.table> WHERE (rule)
// OFFSET 0` for the table the rule governs, the rule's names bound. OFFSET
// 0 makes it an optimisation fence: PostgreSQL neither pulls the subquery
// up nor pushes the outer query's conditions into it, so a condition of
// the user's (one that raises an error on a chosen value, say) never sees
// a row the rule hides.
func (w *accessWalker) boundRuleSelect(rule *policy.RowRule, table *pg_query.RangeVar) *pg_query.SelectStmt {
	return &pg_query.SelectStmt{
		TargetList:  []*pg_query.Node{starTarget()}, // access_text.go
		FromClause:  []*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: table}}},
		WhereClause: w.boundRuleExpr(rule),
		LimitOffset: &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Val: &pg_query.A_Const_Ival{Ival: &pg_query.Integer{Ival: 0}}}}},
		LimitOption: pg_query.LimitOption_LIMIT_OPTION_COUNT,
		Op:          pg_query.SetOperation_SETOP_NONE,
	}
}

// bindRuleNames qualifies, in place, every relation, function and operator
// a rule expression names. Relations are bound to the one schema that
// holds them (pg_catalog first, as PostgreSQL searches it first);
// functions and operators to pg_catalog when they are built-ins, else the
// rule must name their schema itself.
func bindRuleNames(e *pg_query.Node, objs Objects) error {
	var problem error
	fail := func(format string, args ...any) {
		if problem == nil {
			problem = fmt.Errorf(format, args...)
		}
	}
	walk(e.ProtoReflect(), func(m protoreflect.Message) {
		if _, ok := m.Interface().(*pg_query.WithClause); ok {
			fail("the row rule defines a WITH query; write it as a subquery (a rule's own CTE names could be confused with the statement's)")
		}
	})
	walk(e.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.RangeVar:
			if n.GetSchemaname() != "" {
				return
			}
			schema, err := relationSchema(objs, n.GetRelname())
			if err != nil {
				fail("%v", err)
				return
			}
			n.Schemaname = schema
		case *pg_query.FuncCall:
			if len(n.GetFuncname()) == 1 {
				name := n.GetFuncname()[0].GetString_().GetSval()
				if !objs.FunctionSafe("pg_catalog", name) {
					fail("the row rule calls function %s, which is not a safe built-in: qualify it with its schema in the policy", policy.QuoteIdentifier(name))
					return
				}
				n.Funcname = qualifiedName(name)
			}
		case *pg_query.A_Expr:
			switch n.GetKind() {
			case pg_query.A_Expr_Kind_AEXPR_OP, pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL:
				n.Name = bindOperator(n.GetName(), objs, fail)
			}
		case *pg_query.SubLink:
			switch n.GetSubLinkType() {
			case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK:
				if len(n.GetOperName()) == 0 {
					n.OperName = qualifiedName("=") // `x IN (SELECT ...)`
				} else {
					n.OperName = bindOperator(n.GetOperName(), objs, fail)
				}
			}
		}
	})
	return problem
}

// bindOperator qualifies an unqualified built-in operator name.
func bindOperator(name []*pg_query.Node, objs Objects, fail func(string, ...any)) []*pg_query.Node {
	if len(name) != 1 {
		return name
	}
	op := name[0].GetString_().GetSval()
	if !objs.OperatorSafe("pg_catalog", op) {
		fail("the row rule uses operator %s, which is not a built-in operator: qualify it with OPERATOR(schema.%s) in the policy", op, op)
		return name
	}
	return qualifiedName(op)
}

func qualifiedName(name string) []*pg_query.Node {
	return []*pg_query.Node{pg_query.MakeStrNode("pg_catalog"), pg_query.MakeStrNode(name)}
}

// relationSchema is the schema an unqualified relation name in a rule
// means: pg_catalog if it holds one (PostgreSQL searches it first), else
// the single schema that does. Temporary schemas never count: a session's
// temporary table must not stand in for the table the DBA meant.
func relationSchema(objs Objects, name string) (string, error) {
	var schemas []string
	for _, s := range objs.RelationSchemas(name) {
		if s == "pg_catalog" {
			return s, nil
		}
		if !strings.HasPrefix(s, "pg_temp_") && !strings.HasPrefix(s, "pg_toast_temp_") {
			schemas = append(schemas, s)
		}
	}
	switch len(schemas) {
	case 0:
		return "", fmt.Errorf("the row rule reads %s, which is not a relation of this database", policy.QuoteIdentifier(name))
	case 1:
		return schemas[0], nil
	}
	return "", fmt.Errorf("the row rule reads %s, which exists in schemas %s: qualify it with its schema in the policy",
		policy.QuoteIdentifier(name), strings.Join(schemas, ", "))
}
