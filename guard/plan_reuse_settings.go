package guard

import (
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The settings a reused plan was analysed under (plan_reuse.go).
// PostgreSQL coerces a text's constants while it analyses it, under the
// session's settings then: '01/02/2020' is a date under DateStyle, '10:00'
// a timestamptz under TimeZone, x = NULL is x IS NULL under
// transform_null_equals. The client's unnamed Parse would be analysed
// under the settings of the moment, and a reused plan keeps those it was
// prepared under, which PostgreSQL does not re-analyse for (it does for
// search_path, role with row security, and DDL on what the plan uses).
// So the plan cache holds for one planSettingsKey, and is emptied when it
// changes:
//
//   - DateStyle, TimeZone and IntervalStyle are reported by the backend
//     (ParameterStatus, after a SET, a function's set_config, a rollback
//     that undoes one); reports counts those messages, and no plan is
//     reused or prepared while a request that may change them is
//     unanswered (datetime_pending.go), as their report comes only then;
//   - the other settings are not reported: gen counts the statements that
//     may change one (sqlrewrite's MayChangeAnalysis: a SET of any setting
//     not known to leave analysis alone, set_config, DISCARD, CALL, DO, a
//     call of a function that may run SET) at their Query, Parse and each
//     Execute, and after one, each transaction end or rollback to a
//     savepoint (which undoes SET) and each error the backend sends
//     (which may end the transaction that made it).
//
//   - a statement naming a view or a relation with rules counts too
//     (noteRulesPlanSettings): its rules may call set_config; so does a
//     write (COPY FROM too): a column default, a trigger or a CHECK it
//     runs may (TestRedTeam32aSettingInWrite).
//   - once a cursor was declared over one of those, each FETCH and MOVE
//     counts (they run it).
//
// Not seen: an operator's function or a shadowing function of the
// database's own that changes such an unreported setting, a
// configuration reload. So a text whose analysis reads one is not reused
// at all (sqlrewrite's Analysis.SettingsFree: x = NULL, array and money
// and xml constants, 'now', a zone abbreviation, a constant the planner
// folds into text under extra_float_digits or bytea_output;
// TestRedTeam32aConfigReload, TestRedTeam33aFloatDigits): the count is a
// second line, for settings PostgreSQL may come to read at analysis.

// planSettingsKey is what a session's reused plans were prepared under.
type planSettingsKey struct {
	gen, reports, errors uint64
}

// notePlanSettings counts a client message that may change a setting
// PostgreSQL analyses a text under (client pump, before its handler;
// an Execute through noteExecutePlanSettings).
func (s *Session) notePlanSettings(typ byte, a *sqlrewrite.Analysis) {
	if typ == pgwire.FeFunctionCall {
		s.planSettings.bump()
		return
	}
	if (typ == pgwire.FeQuery || typ == pgwire.FeParse) && a != nil {
		s.planSettings.note(a)
		s.noteRulesPlanSettings(a)
	}
}

// noteRulesPlanSettings counts a statement naming a view or a relation
// with rules (when the catalog was read): its rules may call set_config
// or a function that runs SET, which the statement's text does not show
// (TestRedTeam32aSettingInView: a view's set_config of
// transform_null_equals, and a reused plan kept grp = NULL). A relation
// the catalog does not list has it read again, which empties the cache.
// A read of PostgreSQL's own views (pg_prepared_statements, pg_settings)
// does not count: only an UPDATE of pg_settings sets.
func (s *Session) noteRulesPlanSettings(a *sqlrewrite.Analysis) {
	c := s.catalog.Load()
	if c == nil || a.Err != nil {
		return
	}
	for _, st := range a.Statements {
		for _, t := range st.Tables {
			if c.hasRules(t) && !(t.Schema == "" && bound(st.CTEs, t.Name)) && (st.Writes || !c.systemView(t)) {
				s.planSettings.bump()
				s.planSettings.cursors = s.planSettings.cursors || st.CursorOp == sqlrewrite.CursorDeclare
				return
			}
		}
	}
}

// noteExecutePlanSettings counts an Execute of a statement that may
// change such a setting: each execution may (client pump).
func (s *Session) noteExecutePlanSettings(st *stmtInfo) {
	if st != nil && st.analysis != nil {
		s.planSettings.note(st.analysis)
		s.noteRulesPlanSettings(st.analysis)
	}
}

// planSettingsCount is a session's count of what may change the settings
// a text is analysed under. Client pump.
type planSettingsCount struct {
	gen uint64
	// undoable: a statement that may have changed one ran; a
	// transaction's end or an error may undo it.
	undoable bool
	// cursors: a cursor was declared over such a statement, which runs
	// at its FETCH and MOVE: each counts after (TestRedTeam32aSettingInCursor).
	cursors bool
}

func (c *planSettingsCount) bump() { c.gen++; c.undoable = true }

func (c *planSettingsCount) note(a *sqlrewrite.Analysis) {
	for _, st := range a.Statements {
		switch {
		case st.MayChangeAnalysis():
			c.bump()
			c.cursors = c.cursors || st.CursorOp == sqlrewrite.CursorDeclare
		case st.CursorOp == sqlrewrite.CursorRead && c.cursors, st.Writes:
			c.bump()
		case st.UndoesSettings() && c.undoable:
			c.gen++
		}
	}
}

// planSettingsNow is the key plans prepared now are reused under, and
// false while DateStyle, TimeZone or IntervalStyle may be changing (a
// request that may change them unanswered). Client pump.
func (s *Session) planSettingsNow() (planSettingsKey, bool) {
	if s.datetimeInRequest || s.datetimeDone.Load() < s.datetimeBefore {
		return planSettingsKey{}, false
	}
	k := planSettingsKey{gen: s.planSettings.gen, reports: s.settingReports.Load()}
	if s.planSettings.undoable {
		k.errors = s.backendErrors.Load()
	}
	return k, true
}

// systemView reports whether the statement's relation t is one of
// PostgreSQL's (pg_catalog, information_schema): named in one of those
// schemas, or unqualified and listed in no other.
func (c *catalog) systemView(t sqlrewrite.TableName) bool {
	system := func(schema string) bool { return schema == "pg_catalog" || schema == "information_schema" }
	if t.Schema != "" {
		return system(t.Schema)
	}
	e, ok := c.names().relations[t.Name]
	if !ok || len(c.names().more[t.Name]) > 0 {
		return false
	}
	for name, idx := range c.names().schemas {
		if idx == e.schema {
			return system(name)
		}
	}
	return false
}
