package guard

import (
	"bytes"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Some of the checks phiguard writes into a statement that compares or
// sorts encrypted columns cannot be exact parse-time lookups (a parameter
// declared varchar has no pg_catalog operator of exactly its types; a
// prefix + or -): they scan pg_operator (or pg_proc) for a visible one
// outside pg_catalog, and "visible" is read under search_path when the
// check runs. PostgreSQL chose the statement's operators at parse time.
// A function the statement calls may change search_path in between
// (set_config in a FROM subquery, a user's function that runs SET): the
// scan then looks along another path than the one the operators were
// chosen on, and missed a user's operator the plaintext statement
// called (TestRedTeam31eSearchPathChangedBeforeScan: 0 rows where
// PostgreSQL answers 2). So a statement whose text carries such a scan
// and that calls a function phiguard cannot see into
// (sqlrewrite.Statement.MayChangeSettingsUnseen) is refused.

// scanMarkers are what only a scan along search_path in phiguard's
// checks calls.
var scanMarkers = [][]byte{[]byte("pg_catalog.pg_operator_is_visible("), []byte("pg_catalog.pg_function_is_visible(")}

// scanCheckRefusal refuses text, the text phiguard sends for a, when it
// scans along search_path and a's statements call a function that may
// change it while they run; nil otherwise.
func scanCheckRefusal(a *sqlrewrite.Analysis, plan *sqlrewrite.Plan, text []byte) *pgerr.Error {
	if a == nil || plan == nil || !mayChangeSettingsUnseen(a) || !scansPath(text) {
		return nil
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"%s: phiguard checks which operator PostgreSQL chose on it by the operators visible on search_path when the check runs (the operand's declared type, or a prefix sign, has no exact pg_catalog operator), and this statement calls a function phiguard cannot see into, which may change search_path while it runs: declare the parameter as the column's type, or call the function in a statement of its own",
		scanColumns(plan))
}

func mayChangeSettingsUnseen(a *sqlrewrite.Analysis) bool {
	for _, st := range a.Statements {
		if st.MayChangeSettingsUnseen() {
			return true
		}
	}
	return false
}

func scansPath(text []byte) bool {
	for _, m := range scanMarkers {
		if bytes.Contains(text, m) {
			return true
		}
	}
	return false
}

// scanColumns names the encrypted columns the statement's checks are of.
func scanColumns(plan *sqlrewrite.Plan) string {
	for _, g := range plan.Operators {
		if g.Column != nil {
			return "comparison " + g.Op + " on encrypted column " + g.Column.QualifiedName()
		}
	}
	if plan.Sort != nil {
		return "a statement phiguard evaluates on encrypted columns " + plan.Sort.ColumnNames()
	}
	return "a statement on encrypted columns"
}
