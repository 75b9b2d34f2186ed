package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Built-ins that run SQL given as text (query_to_xml('SELECT length(name)
// FROM patients', ...), ts_stat, ts_rewrite with a query) or read whole
// tables or schemas by name (table_to_xml, schema_to_xml) evaluate
// statements phiguard never plans: the database computed on the cells
// (a ciphertext's length, its hex, a comparison of a cell with a constant
// sent in clear inside the text), and the answer differed from the
// plaintext database's without an error (TestRedTeam11SQLInStrings).
// Under a policy that encrypts columns, calling them (unqualified, or in
// pg_catalog; the extensions' in any schema: dblink's, tablefunc's
// crosstab and connectby) is refused for every role (0A000), as for a
// role with rules (deniedFunctions).
var sqlTextFunctions = []string{"query_to_xml*", "table_to_xml*", "cursor_to_xml*", "schema_to_xml*",
	"database_to_xml*", "ts_stat", "ts_rewrite"}

// sqlTextExtensionFunctions are those of extensions, in any schema.
var sqlTextExtensionFunctions = []string{"dblink*", "crosstab*", "connectby"}

// sqlTextRefusal refuses a statement calling one of sqlTextFunctions.
func sqlTextRefusal(n *pg_query.Node) *Refusal {
	name := ""
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		fc, ok := m.Interface().(*pg_query.FuncCall)
		if !ok || name != "" {
			return
		}
		schema, fn := funcParts(fc.GetFuncname())
		if matchesList(sqlTextFunctions, fn) && (schema == "" || schema == "pg_catalog") || matchesList(sqlTextExtensionFunctions, fn) {
			name = fn
		}
	})
	if name == "" {
		return nil
	}
	return &Refusal{Code: pgerr.FeatureNotSupported,
		Construct: "function " + name + " runs SQL phiguard cannot see (given as text, or over whole tables), and this database has encrypted columns: run it directly against the database"}
}

// EncryptsAnything says whether the policy encrypts some column: the
// statements and calls above are refused only then.
func EncryptsAnything(pol *policy.Policy) bool { return pol != nil && encryptsAnything(pol) }

// SQLTextFunctionsWhere is a condition on pg_proc p (and its namespace
// n) that holds for the functions sqlTextRefusal refuses: the proxy
// lists their OIDs in its catalog and refuses a fast-path FunctionCall
// of one, which names the function by OID only.
func SQLTextFunctionsWhere() string {
	pattern := func(list []string) string {
		alts := make([]string, len(list))
		for i, f := range list {
			if p, ok := strings.CutSuffix(f, "*"); ok {
				alts[i] = p + ".*"
			} else {
				alts[i] = f
			}
		}
		return "'^(" + strings.Join(alts, "|") + ")$'"
	}
	return "(n.nspname = 'pg_catalog' AND p.proname ~ " + pattern(sqlTextFunctions) + ") OR p.proname ~ " + pattern(sqlTextExtensionFunctions)
}
