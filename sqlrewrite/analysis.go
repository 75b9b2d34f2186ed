package sqlrewrite

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// TableName is a table as the statement spells it, after PostgreSQL's own
// identifier rules (quotes removed, unquoted names folded to lower case).
// Schema is empty when the statement leaves it to search_path.
type TableName struct {
	Schema string
	Name   string
	// Function marks a function called in FROM, named so, as an inner
	// item whose columns the plan leaves to the catalog
	// (Unshadowed.Inner): its result's, which the statement does not
	// tell without a column definition list.
	Function bool
}

func (t TableName) String() string {
	name := t.Name
	if t.Function {
		name += "()"
	}
	if t.Schema == "" {
		return name
	}
	return t.Schema + "." + name
}

// MayChangeSettings reports whether the statement may change a session
// setting: SET, RESET, set_config, the end of a transaction or
// savepoint (which undoes SET), CALL and DO, DISCARD and other
// utilities, or a statement that could not be classified. A function
// that runs SET inside is not seen.
func (s Statement) MayChangeSettings() bool {
	switch s.Kind {
	case KindSet, KindTransaction, KindCall, KindUtility, KindUnknown:
		return true
	}
	return s.valueDependent
}

// MayChangeSettingsUnseen reports whether the statement may change a
// session setting in a way its text does not show: it calls a function
// other than a few built-ins (a function may run set_config or SET
// inside), CALL or DO, or could not be classified. PostgreSQL lexes and
// parses a request sent after it under what it set, so the proxy reads
// such a request only after this one is answered (guard/settings_unseen.go).
func (s Statement) MayChangeSettingsUnseen() bool {
	return s.opaque || s.Kind == KindCall || s.Kind == KindUnknown
}

// MayChangeDatetime reports whether the statement may change a setting
// PostgreSQL reads date, time and interval input under (DateStyle,
// TimeZone, IntervalStyle): a SET or RESET of one, RESET ALL,
// set_config, DISCARD, a transaction end or rollback to a savepoint
// (which undoes SET), CALL and DO, or a statement that could not be
// classified. Code its text does not show (a function that runs SET
// inside, a trigger) runs when the statement executes, which the proxy
// counts at each Query and Execute (guard/datetime_free.go, mayRunCode);
// a Parse runs nothing.
func (s Statement) MayChangeDatetime() bool {
	return s.datetime || s.Kind == KindCall || s.Kind == KindUnknown
}

// MayChangeAnalysis reports whether the statement may change a setting
// PostgreSQL reads while it analyses a text (transform_null_equals,
// array_nulls, xmloption, lc_monetary, timezone_abbreviations, a custom
// one it has no reason to think harmless): a SET or RESET of any setting
// but those neutralSettings lists, RESET ALL, set_config, DISCARD, CALL
// and DO, a function call other than a few built-ins (it may run SET
// inside), a type that may be the database's own (a domain's CHECK, a
// type's input function, TestRedTeam32aSettingInDomain), or a
// statement that could not be classified. A plan prepared
// before it may have coerced a constant under the old value
// (guard/plan_reuse.go). DateStyle, TimeZone and IntervalStyle are not
// counted: PostgreSQL reports their values, and the proxy follows those.
func (s Statement) MayChangeAnalysis() bool {
	return s.analysisSetting || s.opaque || s.userType || s.Kind == KindCall || s.Kind == KindUnknown
}

// UndoesSettings reports whether the statement is a transaction end or a
// rollback to a savepoint, which undoes the SETs made since.
func (s Statement) UndoesSettings() bool {
	return s.Kind == KindTransaction && s.datetime
}

// Statement is what the proxy needs to know about one statement.
type Statement struct {
	Kind Kind
	// Tables lists every relation named anywhere in the statement (FROM,
	// JOIN, subqueries, CTEs, DML targets, COPY), each once, in order of
	// first appearance. Names bound by a WITH clause are included as written;
	// resolving them against CTE names is the policy layer's job.
	Tables []TableName
	// CTEs are the names the statement's WITH clauses bind (at any
	// depth), which an unqualified entry of Tables may be: those it names
	// only inside their WITH's scope (a name it also names outside one,
	// or as a write's target, reads a relation there, and is left out:
	// boundCTEs).
	CTEs []string
	// Cursor is the cursor a DECLARE, FETCH, MOVE or CLOSE names ("" for
	// other statements and CLOSE ALL), and CursorOp what it does to it: the proxy follows cursors so that reading one is audited and
	// checked like the query it was declared for.
	Cursor   string
	CursorOp CursorOp
	// Deallocates is what an SQL DEALLOCATE or DISCARD ALL drops of the
	// session's prepared statements: "" nothing, "*" all of them
	// (DEALLOCATE ALL, DISCARD ALL), else the one name. The proxy's own
	// prepared statements go with them.
	Deallocates string
	// Prepares is the name an SQL PREPARE gives its statement, Executes
	// the one an EXECUTE (alone, under EXPLAIN, or in CREATE TABLE AS)
	// runs: PostgreSQL analyses the prepared query again at an EXECUTE
	// after a change of the search path, so the proxy checks its names
	// then too (guard/sql_prepared.go).
	Prepares, Executes string
	// PreparedName is the prepared statement an SQL PREPARE makes or an
	// EXECUTE runs (EXPLAIN EXECUTE, CREATE TABLE AS EXECUTE too), "" for
	// other statements: the proxy keeps its own names from them.
	PreparedName string
	// Writes is set when the statement writes rows anywhere in it: an
	// INSERT, UPDATE, DELETE or MERGE at any depth (a writable CTE, under
	// EXPLAIN ANALYZE), or COPY FROM.
	Writes bool
	// Copies is set for CREATE TABLE AS and CREATE MATERIALIZED VIEW AS
	// (at any depth, under EXPLAIN ANALYZE too): DDL that stores the rows
	// its query reads in a new relation, which the proxy checks like a
	// statement returning them (a view over an encrypted column copied
	// the length of a ciphertext into a plain table).
	Copies bool
	// Columns are the column names the statement reads (each column
	// reference's last name, JOIN ... USING's), each once; Defined the
	// names it defines itself (output names, aliases, a WITH query's or
	// an alias's column names, a function's in FROM); Natural is set for
	// a NATURAL JOIN, which reads the columns its two sides share
	// (columns.go).
	Columns, Defined []string
	Natural          bool
	// FromFunction is set when a function is called in FROM, whose
	// output columns may be named after its OUT parameters (jsonb_each's
	// key and value), which the statement reads without defining them.
	FromFunction bool
	// SessionLocal is set for DDL no other session sees in the catalog
	// (a temporary table, TRUNCATE: ddl_local.go).
	SessionLocal bool
	// EndsPrepared is set for COMMIT PREPARED and ROLLBACK PREPARED,
	// which commit (or undo) DDL a PREPARE TRANSACTION set aside, maybe in
	// another session (guard/catalog_epoch.go).
	EndsPrepared bool
	// path is how the statement may change the search path (PathChange).
	path PathChange
	// pathDefers: a PREPARE or DECLARE whose query may change the search
	// path when an EXECUTE or FETCH runs it (pathRuns); search_path.go.
	pathDefers, pathRuns bool

	// repeated lists the relation names (any schema) the statement may
	// read more than once (see ReadsOnce).
	repeated []string
	// valueDependent is set when a decision about the statement depends on
	// a literal's value (SET, set_config, ORDER BY 2): its
	// analysis, and the plan cached on it, must not be shared with other
	// texts of its shape.
	valueDependent bool
	// withQueries: the statement has a WITH clause somewhere, so its
	// relation names are bound before it is planned (bind_relations.go).
	withQueries bool
	// datetime: the statement may change DateStyle, TimeZone or
	// IntervalStyle (see MayChangeDatetime).
	datetime bool
	// analysisSetting: a SET, RESET, set_config or DISCARD that may change
	// how PostgreSQL analyses a text (see MayChangeAnalysis).
	analysisSetting bool
	// userType: the statement names a type that may be the database's
	// own (a cast to a domain runs its CHECK, which may call set_config:
	// see MayChangeAnalysis).
	userType bool
	// opaque: the statement calls a function that is not one of a few
	// built-ins (see MayChangeSettingsUnseen).
	opaque bool
	// optionsAreValues: a COPY, whose options are literals; like
	// valueDependent, its analysis is not shared by shape, but it
	// changes no setting.
	optionsAreValues bool
}

// CursorOp is what a cursor statement does.
type CursorOp uint8

const (
	CursorNone     CursorOp = iota
	CursorDeclare           // DECLARE name CURSOR FOR query
	CursorRead              // FETCH or MOVE
	CursorClose             // CLOSE name
	CursorCloseAll          // CLOSE ALL
)

// ParseError is a statement pg_query could not parse.
type ParseError struct {
	Message string
	// Position is the 1-based character offset of the error, 0 if unknown.
	Position int
}

func (e *ParseError) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("syntax error at position %d: %s", e.Position, e.Message)
	}
	return "syntax error: " + e.Message
}

// Analysis is the result for one SQL string, which may hold several
// statements (a simple-protocol Query with semicolons). It is immutable once
// built and shared between sessions through the cache.
type Analysis struct {
	Statements []Statement
	// Err is set when the text did not parse; Statements is then empty.
	Err *ParseError

	sql string
	// tree is the parse tree until the first plan is made from it (see
	// syntax); nil when Err is set. It weighs 40 to 60 times the text, so
	// a cached analysis must not keep it: a plan for another policy
	// version parses the text again.
	tree       atomic.Pointer[pg_query.ParseResult]
	plan       atomic.Pointer[planEntry] // see PlanUnder
	known      atomic.Pointer[planEntry] // see PlanKnowing
	normOnce   sync.Once
	normalized string
	// nodes and literals count the tree's messages and its constants and
	// parameters, for the cost estimate (memory.go).
	nodes, literals int
	// unqualified: a relation, function, type or collation is named
	// without its schema (see Qualified).
	unqualified bool
	// strings: the text holds a string constant (HasStrings).
	strings bool
	// settingDependent: its analysis reads an unreported setting or the
	// moment (SettingsFree).
	settingDependent bool
	// columnText: a column cast to a string type; derived: a subquery
	// in FROM or a WITH query, whose constant columns PostgreSQL's
	// planner pulls up into the casts (SettingsFree).
	columnText, derived bool
}

// WithStatements is an analysis of a's statements and more, for the
// proxy's checks of the relations and columns they name (an EXECUTE's
// with its PREPARE's statements, guard/sql_prepared.go): it keeps no
// text, and no plan is made from it.
func (a *Analysis) WithStatements(more []Statement) *Analysis {
	return &Analysis{Statements: append(slices.Clip(a.Statements), more...), Err: a.Err, unqualified: a.unqualified}
}

// HasStrings reports whether the text holds a string constant: compared
// with an enum or reg* column, PostgreSQL makes it an OID when it
// analyses the text, and a label renamed since leaves a cached plan
// with the old one (guard/plan_reuse.go, TestRedTeam32aEnumLabel).
func (a *Analysis) HasStrings() bool { return a != nil && a.strings }

// Qualified reports whether the text names every relation, function,
// type and collation with its schema (pg_query spells keyword types such
// as int and date pg_catalog.int4, pg_catalog.date). Only such a text
// resolves the same in every session and at every moment, whatever
// objects appear meanwhile on the search_path: a plan PostgreSQL caches
// for it is re-analysed after DDL on the objects it uses and after a
// search_path or operator change, but not when a new object would take
// an unqualified name over (a temporary table, a public.lower(varchar)
// that beats pg_catalog.lower(text)). Operators are not looked at: a
// change to pg_operator resets PostgreSQL's cached plans. An unparsable
// text is not qualified.
func (a *Analysis) Qualified() bool {
	return a != nil && a.Err == nil && !a.unqualified
}

// Normalized returns the SQL with every constant replaced by a $n
// placeholder ($0 where pg_query's Normalize leaves one, scrubConstants)
// and no comment, the only form in which phiguard ever logs a statement. It is
// computed on first use, since most statements are never logged. Text that
// does not parse is never returned: its constants could not be found.
func (a *Analysis) Normalized() string {
	a.normOnce.Do(func() {
		if a.Err != nil {
			a.normalized = "<unparsable statement>"
			return
		}
		n, err := pg_query.Normalize(a.sql)
		if err != nil {
			a.normalized = "<unparsable statement>"
			return
		}
		a.normalized = scrubConstants(n)
	})
	return a.normalized
}

// scrubConstants replaces the constants pg_query's Normalize leaves in
// place with $0, and comments with nothing: it does not normalize utility
// statements, so ALTER TABLE ... SET DEFAULT '<an SSN>', CREATE TABLE ...
// DEFAULT, COMMENT ... IS and SET kept their literals, which went to the
// debug log and the audit record. A constant runs to the next token (the
// scanner's end of a U&'...' string falls short of it). Text the scanner
// rejects is not returned at all.
func scrubConstants(n string) string {
	res, err := pg_query.Scan(n)
	if err != nil {
		return "<unparsable statement>"
	}
	toks := res.GetTokens()
	var b strings.Builder
	last := 0
	for i, tok := range toks {
		text := ""
		switch tok.GetToken() {
		case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_BCONST, pg_query.Token_XCONST,
			pg_query.Token_ICONST, pg_query.Token_FCONST:
			text = "$0"
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
		default:
			continue
		}
		end := len(n)
		if i+1 < len(toks) {
			end = int(toks[i+1].GetStart())
		}
		end = max(int(tok.GetStart()), len(strings.TrimRight(n[:end], " \t\r\n")))
		b.WriteString(n[last:tok.GetStart()])
		b.WriteString(text)
		last = end
	}
	b.WriteString(n[last:])
	return b.String()
}

// Kinds returns the statement kinds in order; an unparsable text yields one
// KindUnknown.
func (a *Analysis) Kinds() []Kind {
	if a.Err != nil {
		return []Kind{KindUnknown}
	}
	ks := make([]Kind, len(a.Statements))
	for i, s := range a.Statements {
		ks[i] = s.Kind
	}
	return ks
}

// ReadsOnce reports whether every statement of a reads the relation called
// name (in any schema) through at most one range-table entry: it is not
// named twice (a self-join, a subquery or UNION over the same table) and
// no WITH query is named twice. A RowDescription gives each field the
// table it comes from but not which occurrence of it, so the proxy ties
// two fields of one table to the same row only when this holds. It errs
// towards false: a text that did not parse reads nothing once.
func (a *Analysis) ReadsOnce(name string) bool {
	if a == nil || a.Err != nil {
		return false
	}
	for _, st := range a.Statements {
		if slices.Contains(st.repeated, name) {
			return false
		}
	}
	return true
}

// valueDependent says whether a decision about the text depends on a
// literal's value, so that it must not share an analysis by shape.
func (a *Analysis) valueDependent() bool {
	for _, st := range a.Statements {
		if st.valueDependent || st.optionsAreValues {
			return true
		}
	}
	return false
}
