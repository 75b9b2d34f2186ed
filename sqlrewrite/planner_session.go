package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/internal/pgerr"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Under a policy that encrypts columns, some statements are refused for
// every role, whatever tables they name, because they could put plaintext
// into an encrypted column out of phiguard's sight, or make phiguard read
// the next statements differently than PostgreSQL does:
//
//   - DO and CALL, and creating functions, procedures, triggers, event
//     triggers and rules: code phiguard cannot read, run later;
//   - a call of a built-in that runs SQL given as text (planner_sqltext.go);
//   - a view over a table with encrypted columns (writes through it would
//     bypass the encryption; see the proxy's viewWritten for existing ones);
//   - a SET, or set_config, of client_encoding or standard_conforming_strings
//     to a value phiguard cannot parse under (settings.go). The backend's
//     report of such a change ends the session, but a client that
//     pipelines its next statement would have it read under the new value.
//     UPDATE pg_settings is SET by another name (the view's rule calls
//     set_config) and ALTER SYSTEM reaches every session at the next
//     reload, between two messages of a pipeline: the first is refused
//     whatever it sets, the second as SET is.
func (p *planner) sessionRefusal(n *pg_query.Node, st Statement) *Refusal {
	refusal := func(construct string) *Refusal {
		return &Refusal{Code: pgerr.FeatureNotSupported, Construct: construct}
	}
	switch {
	case st.Kind == KindCall:
		return refusal("DO blocks and CALL run code phiguard cannot analyse, and this database has encrypted columns: run them directly against the database")
	case n.GetCreateFunctionStmt() != nil, n.GetCreateTrigStmt() != nil, n.GetRuleStmt() != nil, n.GetCreateEventTrigStmt() != nil:
		return refusal("creating functions, procedures, triggers or rules makes code phiguard cannot analyse, and this database has encrypted columns: create them directly against the database")
	case n.GetViewStmt() != nil && p.touchesProtected(st):
		t := p.firstProtected(n)
		return &Refusal{Code: pgerr.FeatureNotSupported, Table: t.Name.String(),
			Construct: "CREATE VIEW (writes through a view would bypass the encryption; create it directly against the database)"}
	case n.GetRenameStmt() != nil && schemaRenameRefusal(n.GetRenameStmt(), p.pol) != nil:
		return schemaRenameRefusal(n.GetRenameStmt(), p.pol) // planner_ddl_rename.go
	case sqlTextRefusal(n) != nil:
		return sqlTextRefusal(n) // planner_sqltext.go
	case updatesSettings(n):
		return refusal("UPDATE pg_settings changes settings out of phiguard's sight: use SET")
	case n.GetVariableSetStmt() != nil, n.GetAlterSystemStmt().GetSetstmt() != nil:
		s := n.GetVariableSetStmt()
		if s == nil {
			s = n.GetAlterSystemStmt().GetSetstmt()
		}
		if s.GetKind() == pg_query.VariableSetKind_VAR_SET_VALUE {
			for _, arg := range s.GetArgs() {
				if why := SettingProblem(s.GetName(), settingValue(arg), false); why != "" {
					return refusal(why)
				}
			}
		}
	}
	return setConfigRefusal(n)
}

// setConfigRefusal refuses set_config of a setting phiguard must keep,
// or of a setting it cannot see (the name computed).
func setConfigRefusal(n *pg_query.Node) *Refusal {
	var r *Refusal
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		fc, ok := m.Interface().(*pg_query.FuncCall)
		if !ok || r != nil {
			return
		}
		if _, name := funcParts(fc.GetFuncname()); name != "set_config" {
			return
		}
		args := fc.GetArgs()
		if len(args) < 2 || args[0].GetAConst().GetSval() == nil {
			r = &Refusal{Code: pgerr.FeatureNotSupported, Construct: "set_config with a setting name phiguard cannot read"}
			return
		}
		setting := strings.ToLower(args[0].GetAConst().GetSval().GetSval())
		if setting != "client_encoding" && setting != "standard_conforming_strings" {
			return
		}
		value := args[1].GetAConst()
		if value == nil || value.GetSval() == nil {
			r = &Refusal{Code: pgerr.FeatureNotSupported, Construct: "set_config of " + setting + " to a value phiguard cannot read"}
			return
		}
		if why := SettingProblem(setting, value.GetSval().GetSval(), false); why != "" {
			r = &Refusal{Code: pgerr.FeatureNotSupported, Construct: why}
		}
	})
	return r
}

// updatesSettings reports whether the statement updates pg_settings
// anywhere in it (a writable CTE too), under any schema: unqualified,
// pg_settings is pg_catalog's, and a table of that name elsewhere is
// refused with it rather than told apart.
func updatesSettings(n *pg_query.Node) bool {
	found := false
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if u, ok := m.Interface().(*pg_query.UpdateStmt); ok && strings.EqualFold(u.GetRelation().GetRelname(), "pg_settings") {
			found = true
		}
	})
	return found
}
