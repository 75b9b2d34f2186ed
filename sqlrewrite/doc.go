// Package sqlrewrite is phiguard's view of SQL text: every statement
// decision the guard makes about a text is made here, from the text alone
// and the policy, and all editing of SQL text lives here.
//
//   - Analyze (analyze.go, cache.go, shape.go) parses a text with pg_query
//     — PostgreSQL's own grammar compiled in — and records the kind of each
//     statement and every table it names, wherever in the tree they hide.
//     An Analyzer caches analyses by exact text and by shape (literals
//     replaced), so a repeated statement is parsed once.
//   - bindRelations (bind_relations.go) is the one place that says which
//     relation names of a statement name a WITH query, the way PostgreSQL
//     scopes them; the analysis (Statement.CTEs), the encryption planner
//     and the access rewriter all read their WITH queries through it.
//     Column names are bound by one binder for both readers
//     (bind_columns.go): an unqualified name at the innermost query level
//     with an item that has a column of that name, a qualifier to the
//     innermost item of that name (with a schema, only a table). A
//     derived relation's names come from the statement (outputName,
//     scope_outputs.go); a table's, for the planner, from the guard's
//     catalog: checked after planning (Plan.Unshadowed), or known while
//     planning (PlanKnowing, Plan.Shadowed) where the catalog says an
//     inner table has the name, which the plan then sends qualified
//     with the table's item (Plan.Qualified, scope_qualify.go), so a
//     stale catalog makes PostgreSQL fail the statement
//     (QualifiedNameRefusal) rather than bind the name further out; and
//     the inner tables that must lack a name bound past them are probed
//     in their level's WHERE (Plan.Lacking, scope_probe.go), so a table
//     that gained it unseen makes PostgreSQL fail the statement
//     (LackedNameRefusal) rather than bind the name there. A
//     function called in FROM without a column definition list is such
//     an inner item too (TableName.Function; calledFunction,
//     scope_outputs.go), refused where the call may be a column
//     projection.
//   - PlanFor (planner*.go, scope.go, plan*.go) decides, under a policy,
//     which literals and parameters must be encrypted and which uses of an
//     encrypted column are refused (docs/design/encryption-path.md). It
//     refuses a text it cannot parse when the policy protects anything,
//     and DO/CALL when the policy encrypts any column. A top-level SELECT
//     ordered by an encrypted column, or whose WHERE compares one with a
//     constant (planner_filter.go; ILIKE and lower()/upper(),
//     planner_filter_fold.go; inside a top-level IN or EXISTS subquery,
//     planner_subfilter.go, several columns planner_subfilter_cells.go;
//     under OR or NOT, planner_filter_tree.go; a grouped statement's
//     HAVING, planner_having.go, its min and max
//     planner_having_minmax.go), gets a SortPlan
//     (planner_sort.go), and RewriteSort (sort_rewrite.go,
//     sort_filter.go, sort_subfilter.go, sort_filter_tree.go, sort_probe_skip.go,
//     sort_having.go) writes the text
//     the proxy sends for it: no ORDER BY or LIMIT, `true` for each
//     conjunct the proxy evaluates (its constants, which the plan
//     locates in the client's text, gone with it), hidden columns to
//     sort and filter by (docs/search.md). On a column whose search
//     terms are ready a filter gets a term (planner_terms.go; a LIKE or
//     ILIKE a match term, planner_terms_like.go), and
//     RewriteSortTerms (sort_terms.go) writes its term conjunct, with
//     the term constants the proxy computed, in the place of its `true`
//     (while the column is rekeying, = ANY of the term under every
//     version, sort_term_versions.go).
//     An ORDER BY ... LIMIT reaching a column with a ready order term,
//     and min or max of one alone, get a RoundPlan (sort_rounds.go):
//     RewriteSortRounds sends them ordered through the term with FETCH
//     FIRST k ROWS WITH TIES, k computed from a multiplier per round; a
//     LIMIT without ORDER BY, or on an ORDER BY of plaintext keys only
//     (sort_rounds_plain.go: the ORDER BY as written), with FETCH FIRST
//     k ROWS ONLY, in the database's order; k leaves no room for re-check
//     drops when the term conjuncts are exact (exactCandidates). A
//     plaintext key that is one integer or uuid column of a protected
//     table, as the session's catalog says (NativeColumn), is sent as
//     its value behind a type guard instead of a dense_rank window
//     (sort_native.go); any other run ending the ORDER BY of a statement
//     read in one round is sent as the text's ORDER BY, its rank a
//     constant that phiguard's stable sort breaks by arrival
//     (sort_arrival.go).
//   - A comparison the database evaluates on deterministic cells (=,
//     <>, IN, a join of two such columns) is recorded as an
//     OperatorGuard (planner_operator_guard.go): OperatorEdits
//     (operator_guard.go) sends it with a check, run once inside the
//     statement, that PostgreSQL resolved its operator to pg_catalog's
//     (the plaintext statement's, and the cells' = (text, text)),
//     placed where every plan that decides the comparison runs it
//     first (Placement: beside a conjunct PostgreSQL hoists into a
//     One-Time Filter, else in the value operand as an InitPlan, also
//     where two values could share an equivalence class:
//     classPlacements; in a text RewriteSort writes, one check for all,
//     first in its WHERE: OperatorGate, GateWhere, and in the operand of
//     a comparison with NULL or a parameter, which PostgreSQL folds at
//     planning: sortedPlacements, Plan.TextGuards), and
//     ShadowedOperatorRefusal turns the check's error into 0A000
//     (docs/search.md "Shadowed operators on cells").
//   - Where a plan's values stand in the client's text and the edits
//     that put the guard's cells there (text_edit.go): LiteralValue reads
//     a constant, ValueSlot.Region widens it to its cast and sign,
//     TextCut.Span places a cut, CompareForm.FitsList says whether a list
//     of candidate cells (or hidden parameters, ParamList) can stand in
//     a value's place and List writes it, and Splice applies the edits.
//     The guard computes only what goes in.
//   - WithColumnList and WithCopyColumnList (insert_columns.go) write in
//     the column list an INSERT or COPY lacks, from the proxy's catalog;
//     GuardColumnOrder (column_guard.go) and GuardNoDefaults
//     (default_guard.go, default_guard_select.go for INSERT ... SELECT
//     and DEFAULT VALUES) add checks that run inside the statement, under
//     its table's lock, and fail it when another session's DDL made that
//     catalog wrong about the columns' order or their defaults; a COPY
//     FROM STDIN's column list instead gets the encrypted columns it
//     leaves out, which the proxy sends NULL for. An encrypted column
//     the role may not insert is left to its default, checked in READ
//     COMMITTED only, the checks then carried by another column's value
//     (guard_slot.go). GuardTermCollations (collation_guard.go) likewise
//     makes a write of a text column with order or match terms fail
//     when another session changed the column's collation since the
//     catalog the terms were computed under was read. GuardJudges
//     (judges_guard.go) makes a write into an encrypted column fail
//     (40001) when the table's constraints, unique or exclusion indexes
//     or row security policies are no longer those of the catalog's read
//     (JudgesMark): one another session added since would be evaluated
//     on the ciphertext (the guard applies it under limits.judges_guard).
//   - LoadPolicy and ParsePolicy (row_rules.go) load a policy with
//     RowExpressions, which checks that each row rule's expression is one
//     expression without parameters and lists the tables it reads: policy
//     itself has no SQL parser.
//   - AccessFor (access*.go) applies a role's rules: row rules, bound to
//     their schemas (access_rulenames.go) and injected behind an OFFSET 0
//     fence into every reference to a ruled table, write checks, column
//     rules on outputs, statement classes, functions, statistics, session
//     settings (settings.go). Its changes are edits of the client's text,
//     which reaches the database as written around them; the edited text
//     must parse to the tree the rules changed, or that tree is deparsed
//     whole (access_text.go). The parse that checks the edited text is
//     handed on as its analysis (Access.Analysis, Analyzer.AnalyzeWith),
//     so the planner plans the rewritten text without parsing it again.
//     docs/design/access-rewriter.md is its threat model. AccessCache
//     caches its verdicts by text, policy, role and catalog version.
//
// The package is pure: no I/O (LoadPolicy's reading of the file is
// package policy's), no cryptography, no goroutines, so its decisions are
// reproducible from the SQL text, the policy and the catalog
// snapshot (Objects) alone, and testable without PostgreSQL. It fails
// closed: what it cannot analyse it refuses, with a pgerr code and a
// message naming table, column and rule.
package sqlrewrite
