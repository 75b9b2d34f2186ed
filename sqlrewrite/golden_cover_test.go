package sqlrewrite

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Every refusal message the rewriter can produce must appear in a golden
// file. TestGoldenCoversEveryRefusal finds the messages in the package's
// source: each place a refusal (or a piece of its message) is written as
// a string literal, turned into a regexp (the literal parts quoted, each
// %v and each non-literal part .*), set in the sentence the helper that
// receives it builds. A place whose message is wholly built elsewhere
// (refuseConstruct(..., "%s", why)) is covered through the places that
// build it (bindRuleNames, SettingProblem, uncheckable, ...).

// refusalSite is one message of the source, as a regexp over the text of
// a golden refusal.
type refusalSite struct {
	pos string
	re  *regexp.Regexp
}

// Wrappers: the sentence each receiver builds around the piece it is given
// (P). The role and rule names are .* so that one case covers a site.
const (
	wrapConstruct = `^P \(role [^ ]+, rule "[^"]*"\)$` // refuseConstruct
	wrapColumn    = `^column .* is [a-z]+ for role [^ ]+ \(rule "[^"]*"\): it may only be selected as it is, not used P$`
	wrapEncrypted = `^column .* is encrypted \([a-z]+\): P cannot run on it through phiguard$` // planner refuse
	// The planner's expression contexts name where a column stands; the
	// name shows alone or after "a whole-row reference in".
	wrapContext   = `^column .* is encrypted \([a-z]+\): (a whole-row reference in )?P cannot run on it through phiguard$`
	wrapTable     = `^table .* has encrypted columns: P is not supported on it through phiguard$`
	wrapUnchecked = `cannot be checked against its row rule \(P; unchecked_writes: refuse\) \(role`
	wrapSubject   = `: a write whose data subject phiguard cannot tell \(P; its cells are sealed per subject`
	wrapWhole     = `^P$`
)

// callRules: a call of this function passes a piece of a refusal message
// as argument arg; format says the piece is a fmt format. files limits the
// rule to these files (helpers with common names).
var callRules = map[string]struct {
	arg    int
	nargs  int // 0: any
	wrap   string
	format bool
	files  []string
}{
	"refuseConstruct": {arg: 2, wrap: wrapConstruct, format: true},
	"refuseColumn":    {arg: 1, wrap: wrapColumn},
	"outputExprs":     {arg: 3, wrap: wrapColumn},
	"exprCtx":         {arg: 2, wrap: wrapColumn},
	"refuse":          {arg: 1, nargs: 2, wrap: wrapEncrypted}, // the planner's; the walker's takes a *Refusal
	"ctxOther":        {arg: 0, wrap: wrapContext},
	"refuseTable":     {arg: 1, wrap: wrapTable},
	"unchecked":       {arg: 1, wrap: wrapUnchecked},
	// bindRuleNames' problems become refuseConstruct(..., "%s", problem).
	"fail":   {arg: 0, wrap: wrapConstruct, format: true, files: []string{"access_rulenames.go"}},
	"Errorf": {arg: 0, wrap: wrapConstruct, format: true, files: []string{"access_rulenames.go"}},
}

// returnRules: the string a function returns is a piece of a message.
var returnRules = map[string]string{
	"uncheckable":    wrapUnchecked,
	"SettingProblem": wrapConstruct, // refuseConstruct(..., "%s", why)
}

// assignRules: a string assigned to this field is a piece of a message.
var assignRules = map[string]string{
	"subjectWhy": wrapSubject,
	"problem":    wrapConstruct, // boundRule.problem: refuseConstruct(..., "%s", br.problem)
}

// notCoverable are messages no statement can produce through AccessFor or
// PlanFor, by a literal part of their piece (or, written ^...$, the whole
// piece), with the reason.
var notCoverable = map[string]string{
	// pg_query.Deparse of a tree pg_query.Parse made and the rewriter
	// edited with its own well-formed nodes; no known statement fails.
	"phiguard could not write the statement with its row rules: ": "deparse failure of the rewriter's own tree",
	// policy.Validate rejects a row rule that does not parse, so no
	// loaded policy reaches it.
	"the row rule does not parse": "policy validation rejects such a rule",
	// The rewriter calls SettingProblem with restricted false (its own
	// settingsRefused check comes first); the proxy uses this one.
	" changes name resolution or identity and may not be set by a role with rules": "SettingProblem(restricted=true) is the proxy's, not the rewriter's",
	// Defensive branches for trees PostgreSQL's grammar does not build:
	// every query a statement, FROM item or sublink holds is a SelectStmt
	// where these check; a CTE list holds CommonTableExprs; TABLESAMPLE
	// applies to a RangeVar; the FROM item kinds of PostgreSQL 16 are all
	// handled; relations and statements never sit inside expressions.
	"phiguard cannot analyse a .* here":                              "unreachable: grammar",
	"phiguard cannot analyse this WITH clause":                       "unreachable: grammar",
	"phiguard cannot analyse this TABLESAMPLE":                       "unreachable: grammar",
	"phiguard cannot analyse a .* in FROM":                           "unreachable: grammar",
	"phiguard cannot analyse a .* inside an expression":              "unreachable: grammar",
	"phiguard cannot analyse a table reference inside an expression": "unreachable: grammar",
	"phiguard cannot analyse WITH query .* where it is named":        "unreachable: a WITH query is walked before the names bound to it (bind_relations.go)",
	// updateCheck: a substituted column is a constant of an unencrypted
	// column assigned without subscript, which is itself a candidate for
	// the checked value, so "none is" cannot happen.
	"every assigned column is encrypted or set to DEFAULT": "unreachable: updateCheck's own earlier checks",
	// The column guard's refusal answers an error the database raises
	// while the guarded statement runs (column_guard.go); no statement
	// planned alone produces it. TestGuardColumnOrder and the integration
	// test TestRedTeam4StaleCatalogSameNames cover it.
	"changed since this session read them (DDL in another session)": "raised by the database, not by planning",
	// Likewise the guard's refusal of a name that resolves to another
	// table (TestRedTeam5TableElsewhere).
	"resolves (search_path, a temporary table) to another table than": "raised by the database, not by planning",
	// And the native key's guard (sort_native.go): TestNativeChangedRefusal,
	// and the integration tests TestRedTeam27NativeStale*.
	"as its value, which this session's catalog says is an integer or a uuid": "raised by the database, not by planning",
	// The default guard's error (default_guard.go), the same way.
	"was given a default since this session read the catalog (DDL in another session)": "raised by the database, not by planning",
	// And its refusal outside READ COMMITTED (guard_slot.go), which
	// TestColumnPrivilegeOmittedEncrypted covers.
	"can check that the column has none only in a READ COMMITTED transaction": "raised by the database, not by planning",
	// And the collation guard's (collation_guard.go): TestGuardTermCollations
	// and the integration test TestSearchTermsAfterConcurrentCollationChange.
	"whose search terms depend on it, changed since this session read it (DDL in another session)": "raised by the database, not by planning",
	// And the judges guard's (judges_guard.go): TestGuardJudges and the
	// integration test TestRedTeam32bJudgeAddedAfterRead.
	"by another session since phiguard read the catalog; PostgreSQL may judge it on the ciphertext": "raised by the database, not by planning",
	// The operator check's refusal (operator_guard.go) answers an error
	// the check raises in the database; TestShadowedOperatorRefusal and
	// the integration test TestRedTeam10ShadowedEqualityOnCells cover it.
	"outside pg_catalog is visible in search_path": "raised by the database, not by planning",
	// And the gate of a sorted read's probes (planner_shadow.go):
	// TestShadowGate and the integration tests TestShadowedOperatorBehindTerms
	// and TestRedTeam9ShadowedOperatorsAndAggregates.
	"the database has an operator or aggregate of a name phiguard evaluates outside pg_catalog": "raised by the database, not by planning",
	// And a qualified name's table that lost the column (scope_qualify.go):
	// TestQualifiedNameRefusal and the integration test
	// TestRedTeam36FunctionsAndSnapshot.
	"which the database no longer finds (DDL or a function phiguard did not see changed the catalog)": "raised by the database, not by planning",
	// And a probe's item that gained the name it must lack
	// (scope_probe.go): TestLackedNameRefusal and the integration tests
	// TestRedTeam35bDirectDDL and TestRedTeam37InnerGainsName.
	"bound the name further out, but the database finds one there": "raised by the database, not by planning",
	// Every operand of a comparison on cells the planner keeps is a
	// column reference, a literal (folded with its cast or sign), a
	// parameter or NULL, each of which has a place in the text.
	"in a form phiguard cannot place its check of the operator in": "unreachable: every operand kept has a place",
	// groupShape groups in phiguard only a statement whose HAVING
	// havingTree reads, so planHaving's refusal is a broken invariant.
	"a HAVING phiguard cannot evaluate": "unreachable: groupShape's own check",
	// PlanFor parses a text again only when it parsed once already.
	"phiguard could not parse this statement again": "unreachable: the text parsed before",
	// The planner names a context only where a column reference (or
	// whole row) stands directly in it; these contexts are only ever
	// given nodes of other kinds (a WindowDef, a FROM function, a List of
	// VALUES, a statement, a select-list expression that is not a column),
	// whose own node name then becomes the context, or an empty scope
	// (INSERT ... VALUES items beyond the column list) where no name
	// resolves.
	`^WINDOW$`:                           "unreachable: never given a column",
	`^FROM item$`:                        "unreachable: never given a column",
	`^subquery$`:                         "unreachable: never given a column",
	`^an expression in the select list$`: "unreachable: never given a column",
	`^VALUES$`:                           "unreachable: never given a column",
}

// extraSites are messages written inside a refusal helper itself, with
// nothing the scan can key on.
var extraSites = []refusalSite{
	{"access_walk.go refuseColumn (deny)", regexp.MustCompile(`^permission denied for column .*: role [^ ]+ may not read it \(rule "[^"]*"\)$`)},
}

func TestGoldenCoversEveryRefusal(t *testing.T) {
	sites := refusalSites(t)
	if len(sites) < 50 {
		t.Fatalf("found only %d refusal sites: the source scan is broken", len(sites))
	}
	var msgs []string
	for _, path := range goldenFiles(t) {
		for _, c := range parseGolden(t, path).cases {
			for _, l := range c.want {
				if _, m, ok := strings.Cut(l, "refused "); ok {
					if _, m, ok = strings.Cut(m, ": "); ok {
						msgs = append(msgs, m)
					}
				}
			}
		}
	}
	covered := 0
	for _, s := range sites {
		found := false
		for _, m := range msgs {
			if s.re.MatchString(m) {
				found = true
				break
			}
		}
		if found {
			covered++
		} else {
			t.Errorf("%s: no golden refusal matches %s", s.pos, s.re)
		}
	}
	t.Logf("%d of %d refusal sites covered by %d golden refusals", covered, len(sites), len(msgs))
}

// refusalSites scans the package's non-test source for refusal messages.
func refusalSites(t *testing.T) []refusalSite {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var sites []refusalSite
	add := func(n ast.Node, piece, wrap string) {
		if strings.Trim(piece, ".*") == "" {
			return // built wholly elsewhere
		}
		pos := fset.Position(n.Pos())
		pos.Filename = filepath.Base(pos.Filename)
		for lit, why := range notCoverable {
			if anchored, _ := regexp.MatchString(`^\^.*\$$`, lit); anchored {
				if piece == lit[1:len(lit)-1] {
					t.Logf("%s: not coverable (%s): %s", pos, why, piece)
					return
				}
				continue
			}
			if strings.Contains(piece, lit) || strings.Contains(piece, regexp.QuoteMeta(lit)) {
				t.Logf("%s: not coverable (%s): %s", pos, why, piece)
				return
			}
		}
		sites = append(sites, refusalSite{pos: pos.String(), re: regexp.MustCompile(strings.Replace(wrap, "P", piece, 1))})
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		scanFile(f, name, add)
	}
	sort.Slice(sites, func(i, j int) bool { return sites[i].pos < sites[j].pos })
	return append(sites, extraSites...)
}

func scanFile(f *ast.File, name string, add func(ast.Node, string, string)) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Name.Name == "refuseConstruct" {
				return false // the wrapper itself (wrapConstruct)
			}
			if wrap, ok := returnRules[n.Name.Name]; ok {
				ast.Inspect(n.Body, func(m ast.Node) bool {
					if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
						add(r, pieceOf(r.Results[0], false), wrap)
					}
					return true
				})
			}
		case *ast.CallExpr:
			scanCall(n, name, add)
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if sel, ok := l.(*ast.SelectorExpr); ok && i < len(n.Rhs) {
					if wrap, ok := assignRules[sel.Sel.Name]; ok {
						add(n, pieceOf(n.Rhs[i], false), wrap)
					}
				}
			}
		case *ast.CompositeLit:
			scanRefusalLit(n, add)
		}
		return true
	})
}

func scanCall(c *ast.CallExpr, file string, add func(ast.Node, string, string)) {
	var name string
	switch fn := c.Fun.(type) {
	case *ast.Ident:
		name = fn.Name
	case *ast.SelectorExpr:
		name = fn.Sel.Name
	}
	rule, ok := callRules[name]
	if !ok || len(c.Args) <= rule.arg || (rule.nargs > 0 && len(c.Args) != rule.nargs) {
		return
	}
	if rule.files != nil && !slices.Contains(rule.files, file) {
		return
	}
	add(c, pieceOf(c.Args[rule.arg], rule.format), rule.wrap)
}

// scanRefusalLit reads Refusal{Message: ...} (a whole message) and
// Refusal{Construct: ...} without Column or Table (the construct is the
// whole message too), and exprCtx{name: ...} (the planner's context).
func scanRefusalLit(n *ast.CompositeLit, add func(ast.Node, string, string)) {
	typ, _ := n.Type.(*ast.Ident)
	if typ == nil {
		return
	}
	fields := map[string]ast.Expr{}
	for _, e := range n.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok {
				fields[k.Name] = kv.Value
			}
		}
	}
	switch typ.Name {
	case "Refusal":
		if m, ok := fields["Message"]; ok {
			add(n, pieceOf(m, false), wrapWhole)
		} else if m, ok := fields["Construct"]; ok && fields["Column"] == nil && fields["Table"] == nil {
			add(n, pieceOf(m, false), wrapWhole)
		}
	case "exprCtx":
		if m, ok := fields["name"]; ok {
			add(n, pieceOf(m, false), wrapContext)
		}
	}
}

var fmtVerb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// pieceOf turns an expression into a regexp: string literals quoted
// (format verbs as .* when format), concatenations joined, fmt.Sprintf
// read as a format, anything else .*.
func pieceOf(e ast.Expr, format bool) string {
	var p string
	switch e := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		if e.Kind != token.STRING || err != nil {
			return ".*"
		}
		if !format {
			return regexp.QuoteMeta(s)
		}
		parts := fmtVerb.Split(s, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		p = strings.Join(parts, ".*")
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return ".*"
		}
		p = pieceOf(e.X, false) + pieceOf(e.Y, false)
	case *ast.CallExpr:
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" && len(e.Args) > 0 {
			return pieceOf(e.Args[0], true)
		}
		return ".*"
	case *ast.ParenExpr:
		return pieceOf(e.X, format)
	default:
		return ".*"
	}
	for strings.Contains(p, ".*.*") {
		p = strings.ReplaceAll(p, ".*.*", ".*")
	}
	return p
}
