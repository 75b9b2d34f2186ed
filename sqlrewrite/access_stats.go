package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// Statistics: PostgreSQL counts the rows of every table, estimates them for
// the planner and measures the files they are stored in, and lets any role
// read the numbers. A row rule hides rows, not their number: a clinician who
// may see 45 patients would learn from pg_class.reltuples or
// pg_stat_get_live_tuples that there are 111. The numbers cannot be
// answered for the visible rows only (they are kept per table, not per
// row), so for a role with rules every way to them is refused, whichever
// table it asks about (the table is often a value computed at run time):
// the functions below, the pg_class columns, the statistics relations, and
// the system columns that place a visible row among hidden ones.
// docs/design/access-rewriter.md ("Statistics") lists them.

// StatisticsFunctions are the functions that return statistics or sizes of
// relations or databases, refused for a role with rules in any schema and
// even when the role's function allow-list names them. A trailing '*' is a
// prefix. The built-ins are those of pg_catalog; the others are contrib
// extensions' (pgstattuple, pg_visibility, pg_freespacemap,
// pg_buffercache, pageinspect, pg_stat_statements).
var StatisticsFunctions = []string{
	// Every counter of the statistics system: pg_stat_get_live_tuples,
	// pg_stat_get_tuples_inserted, pg_stat_get_xact_*, pg_stat_get_db_*,
	// pg_stat_have_stats, pg_stat_file, pg_stat_statements, ...
	"pg_stat_*",
	// Sizes of relations and databases, which grow with their rows.
	"pg_relation_size", "pg_table_size", "pg_total_relation_size", "pg_indexes_size",
	"pg_database_size", "pg_tablespace_size",
	// The values of extended statistics (most common value lists).
	"pg_mcv_list_items",
	// Contrib extensions that read a relation's pages.
	"pgstattuple*", "pgstatindex", "pgstatginindex", "pgstathashindex", "pg_relpages",
	"pg_visibility*", "pg_check_frozen", "pg_check_visible", "pg_freespace",
	"pg_buffercache_pages", "get_raw_page", "heap_page_items", "page_header", "bt_*",
}

// statisticsRelations are catalog relations that hold statistics: refused
// outright, whatever columns a statement reads. Most are views (refused
// anyway as relations phiguard cannot see through); naming them here gives
// the reason. A trailing '*' is a prefix.
var statisticsRelations = []string{
	"pg_statistic", "pg_statistic_ext_data", "pg_stats", "pg_stats_ext", "pg_stats_ext_exprs",
	"pg_stat_*", "pg_statio_*",
}

// statisticsColumns are the columns of catalog tables that hold a relation's
// size or row count estimate. The rest of the table stays readable (tools
// list tables from pg_class), but these are denied as a column rule with
// action deny would be: as outputs, in expressions, through *, whole-row
// values and column notation.
var statisticsColumns = map[string][]string{
	"pg_class": {"relallvisible", "relpages", "reltuples"},
}

// systemColumns are the system columns of every table. On a table with a
// row rule ctid, xmin, xmax, cmin and cmax are refused: a visible row's
// ctid tells how many rows are stored before it, and the others date it
// among the hidden ones' writes.
var systemColumns = map[string]bool{"ctid": true, "xmin": true, "xmax": true, "cmin": true, "cmax": true, "tableoid": true}

// IsStatisticsFunction tells whether a function name is one of
// StatisticsFunctions. The proxy's catalog also counts them unsafe, so a
// path that checks a function by name alone (not through the rewriter)
// refuses them too.
func IsStatisticsFunction(name string) bool { return matchesList(StatisticsFunctions, name) }

// deniedFunctions are stable or immutable built-ins that run SQL given as
// text, read server files or expose other sessions: never safe. A trailing
// '*' is a prefix.
var deniedFunctions = []string{"query_to_xml*", "table_to_xml*", "cursor_to_xml*", "schema_to_xml*",
	"database_to_xml*", "ts_stat", "ts_rewrite", "pg_read_file", "pg_read_binary_file", "pg_ls_*",
	"pg_stat_file", "lo_*", "dblink*", "set_config", "pg_logical_*", "pg_cancel_backend",
	"pg_terminate_backend", "pg_current_logfile", "pg_file_*", "loread", "lowrite",
	"pg_stat_get_activity", "pg_stat_get_backend_*", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids"}

// IsDeniedFunction tells whether a built-in is never safe for a role with
// rules, whatever its volatility: it runs SQL given as text, touches files
// or other sessions, changes settings, or reveals table statistics. The
// proxy's catalog of safe functions leaves these out.
func IsDeniedFunction(name string) bool {
	return matchesList(deniedFunctions, name) || IsStatisticsFunction(name)
}

func matchesList(list []string, name string) bool {
	for _, d := range list {
		if p, ok := strings.CutSuffix(d, "*"); ok {
			if strings.HasPrefix(name, p) {
				return true
			}
		} else if name == d {
			return true
		}
	}
	return false
}

func (w *accessWalker) statsRule() string { return w.role.Name + ": statistics" }

// statisticsFunction refuses a call of a statistics function.
func (w *accessWalker) statisticsFunction(parts []*pg_query.Node) {
	if _, name := funcParts(parts); IsStatisticsFunction(name) {
		w.refuseConstruct(w.statsRule(), "", "function %s reveals statistics or sizes of tables (how many rows they hold, hidden ones included), so a role with access rules may not call it", funcNameOf(parts))
	}
}

// statisticsRelation refuses reading a statistics relation. The name is
// checked in any schema: an unqualified one is pg_catalog's unless the
// search path puts pg_catalog later, and an extension's view
// (pg_stat_statements) lives where it was installed.
func (w *accessWalker) statisticsRelation(rv *pg_query.RangeVar) {
	if matchesList(statisticsRelations, rv.GetRelname()) {
		w.refuseConstruct(w.statsRule(), tableString(rv), "relation %s holds statistics of tables (how many rows they hold, hidden ones included), so a role with access rules may not read it", tableString(rv))
	}
}

// addStatisticsColumns adds the statistics columns of a catalog table, as
// deny rules, to the restricted columns of a reference to it (in
// pg_catalog, or unqualified, which means pg_catalog's).
func (w *accessWalker) addStatisticsColumns(schema, name string, out map[string]*policy.ColumnRule) {
	cols := statisticsColumns[name]
	if len(cols) == 0 || (schema != "" && schema != "pg_catalog") {
		return
	}
	table := policy.TableName{Schema: "pg_catalog", Name: name}
	for _, c := range cols {
		out[c] = &policy.ColumnRule{Role: w.role, Table: table, Column: c, Action: policy.ActionDeny, Name: w.statsRule()}
	}
}

// systemColumn refuses a ctid, xmin, xmax, cmin or cmax read from a table
// with a row rule (see systemColumns). rel is the FROM item the reference
// names, or nil for an unqualified one, which may be of any item in scope.
func (w *accessWalker) systemColumn(col string, rel *accessRel, sc *accessScope) {
	if !systemColumns[col] || col == "tableoid" || w.breakGlass {
		return
	}
	check := func(r *accessRel) {
		if !r.base {
			return
		}
		if rule := w.rowRule(r.schema, r.relname); rule != nil {
			w.touched = true
			w.refuseConstruct(rule.Name, rule.Table.String(), "system column %s of table %s, which has a row rule, is not allowed: it tells where the role's rows lie among the hidden ones", col, rule.Table.String())
		}
	}
	if rel != nil {
		check(rel)
		return
	}
	// PostgreSQL takes an unqualified name from the innermost level that
	// has it, and every table has the system columns.
	for lvl := sc; lvl != nil; lvl = lvl.parent {
		found := false
		for _, r := range lvl.rels {
			check(r)
			found = found || r.base
		}
		if found {
			return
		}
	}
}

// columnOf tells whether col is a column (or system column) of a base
// table or join alias, for column notation: an unqualified name that
// several schemas have a table of counts the columns of each schema the
// rules know it in. A join alias has its columns, when known in order
// (renamed by its column list, if any), or else its parts' columns; of a
// subquery, CTE or function part only the restricted ones are then
// counted, so another name read through such a join alias is taken for a
// function (the stricter reading).
func (w *accessWalker) columnOf(r *accessRel, col string) bool {
	if systemColumns[col] || w.hasColumn(r, col) {
		return true
	}
	if len(r.parts) > 0 && r.known {
		for _, c := range r.columns {
			if c.name == col {
				return true
			}
		}
		return false
	}
	if len(r.parts) > 0 {
		for _, p := range r.parts {
			if p.restricted[col] != nil || ((p.base || len(p.parts) > 0) && w.columnOf(p, col)) {
				return true
			}
		}
		return false
	}
	if !r.base || r.schema != "" {
		return false
	}
	schemas := w.candidateSchemas("", r.relname)
	if statisticsColumns[r.relname] != nil {
		schemas = append(schemas, "pg_catalog")
	}
	for _, sch := range schemas {
		if cols, ok := w.objs.Columns(sch, r.relname); ok && contains(cols, col) {
			return true
		}
	}
	return false
}

// columnNotation tells whether q.col, where q is r (an item with
// restricted columns) and col is not one of them, may be column notation:
// PostgreSQL reads q.f as f(q) when q has no column f, and f(q) carries
// every column of q, restricted ones unruled. For a table or join alias the
// columns are known. For a subquery or CTE only its named outputs are (a *
// of columns not known in order adds only restricted ones), so a name that
// is neither one of them nor a
// built-in function is taken for a column; a user function that takes a
// record is out of reach of this test (docs/design/access-rewriter.md).
func (w *accessWalker) columnNotation(r *accessRel, col string) bool {
	if r.base || len(r.parts) > 0 {
		return !w.columnOf(r, col)
	}
	return r.cols != nil && !r.cols[col] && w.objs.FunctionSafe("pg_catalog", col)
}
