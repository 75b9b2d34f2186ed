package sqlrewrite

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// LoadPolicy is policy.Load with phiguard's reader of row rules
// (RowExpressions): every command and test that loads a policy which may
// have row rules loads it here. Like policy.Load, it does not Validate.
func LoadPolicy(path string) (*policy.Policy, error) { return policy.LoadWith(path, RowExpressions) }

// ParsePolicy is LoadPolicy on bytes already read.
func ParsePolicy(raw []byte) (*policy.Policy, error) { return policy.ParseWith(raw, RowExpressions) }

// RowExpressions reads a row rule's expression for policy
// (policy.RowExpressions): it must parse inside a WHERE clause as a
// whole, with nothing before or after it (a `) OR (true` cannot close the
// parenthesis the rewriter puts around it), and take no parameters. It
// returns the relations the expression names, once each and sorted: every
// RangeVar, the FROM items of its subqueries wherever they are.
// Unqualified names keep Schema "": search_path decides which table they
// are, so a write to a table of that name in any schema counts. That is
// an over-approximation (a CTE name of the rule counts too), and it cannot
// see what a function the rule calls reads.
func RowExpressions(expr string) ([]policy.TableName, error) {
	where, err := ruleWhere(expr)
	if err != nil {
		return nil, err
	}
	var reads []policy.TableName
	params := false
	walk(where.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.ParamRef:
			params = true
		case *pg_query.RangeVar:
			t := policy.TableName{Schema: n.GetSchemaname(), Name: n.GetRelname()}
			if t.Name != "" && !slices.Contains(reads, t) {
				reads = append(reads, t)
			}
		}
	})
	if params {
		return nil, fmt.Errorf("using: the row rule may not take parameters ($n)")
	}
	slices.SortFunc(reads, func(a, b policy.TableName) int {
		return strings.Compare(a.Schema+"."+a.Name, b.Schema+"."+b.Name)
	})
	return reads, nil
}

// ruleWhere parses a row rule's expression as the access rewriter pastes
// it, inside a WHERE clause, and returns that clause: the one parse that
// both the load's check (RowExpressions) and the rewriter (ruleExpr)
// read, so that what was checked is what is injected. A text that closes
// the parenthesis early (`true) UNION SELECT (1`) parses too, but not as
// a plain SELECT with only a WHERE clause.
func ruleWhere(expr string) (*pg_query.Node, error) {
	tree, err := pg_query.Parse("SELECT WHERE (" + expr + "\n)")
	if err != nil {
		return nil, fmt.Errorf("using: the row rule expression does not parse: %v", err)
	}
	if len(tree.GetStmts()) != 1 {
		return nil, fmt.Errorf("using: the row rule must be one expression")
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil || sel.GetWhereClause() == nil || len(sel.GetTargetList()) != 0 || len(sel.GetFromClause()) != 0 {
		return nil, fmt.Errorf("using: the row rule must be one expression")
	}
	return sel.GetWhereClause(), nil
}
