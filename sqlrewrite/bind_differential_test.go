package sqlrewrite

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// anyTable is a catalog in which every relation a statement names is a
// table, known (fakeObjects) or with columns not known, and every
// function and operator is allowed: the access rewriter then walks every
// statement to its end, binding every name, where it would refuse an
// unknown one.
type anyTable struct{ *fakeObjects }

func (anyTable) RelationKind(string, string) RelationKind { return RelationTable }
func (anyTable) FunctionSafe(string, string) bool         { return true }
func (anyTable) OperatorSafe(string, string) bool         { return true }

// bindingCorpus is the statements TestOneBindingDifferential binds: the
// golden files' and generated shapes of names in subqueries.
func bindingCorpus(t *testing.T) []string {
	var out []string
	files, _ := filepath.Glob("testdata/golden/*.txt")
	sqlLine := regexp.MustCompile(`(?m)^sql: (.*)$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sqlLine.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	outers := []string{"patients p", "patients", "patients p JOIN notes n ON true", "(patients p JOIN notes n ON true) j", "patients p, LATERAL (SELECT p.ssn AS ssn) l"}
	inners := []string{"notes", "(SELECT 'a' AS ssn) v", "(SELECT * FROM notes) v", "generate_series(1, 2) g", "notes n JOIN providers v ON true",
		"(notes n JOIN providers v USING (id)) j", "(VALUES ('a')) v(ssn)", "(SELECT 'a' AS x) v(ssn)", "(SELECT n.*, 'a' AS ssn FROM notes n) v",
		"(SELECT g.*, 'a' AS ssn FROM generate_series(1, 1) g) v(x)", "LATERAL (SELECT p.id) l", "patients q", "(SELECT lower('a')::text AS first) v"}
	names := []string{"ssn", "id", "first", "body", "p.ssn", "patients.ssn", "public.patients.ssn", "v.ssn", "n.id", "j.id", "q.ssn", "l.id", "x"}
	for _, o := range outers {
		for _, i := range inners {
			for _, n := range names {
				out = append(out,
					fmt.Sprintf("SELECT 1 FROM %s WHERE EXISTS (SELECT 1 FROM %s WHERE %s IS NOT NULL)", o, i, n),
					fmt.Sprintf("SELECT (SELECT %s FROM %s LIMIT 1) FROM %s", n, i, o),
					fmt.Sprintf("WITH w AS (SELECT 'a' AS ssn) SELECT 1 FROM %s WHERE EXISTS (SELECT 1 FROM %s, w WHERE %s IS NOT NULL)", o, i, n))
			}
		}
	}
	for _, i := range inners {
		for _, n := range names {
			out = append(out,
				fmt.Sprintf("UPDATE patients p SET first = 'x' FROM %s WHERE %s IS NOT NULL", i, n),
				fmt.Sprintf("DELETE FROM patients p USING %s WHERE %s IS NOT NULL", i, n),
				fmt.Sprintf("UPDATE patients SET first = 'x' WHERE EXISTS (SELECT 1 FROM %s WHERE %s IS NOT NULL) RETURNING ssn", i, n),
				fmt.Sprintf("INSERT INTO notes (body) SELECT 'x' FROM %s WHERE %s IS NOT NULL", i, n),
				fmt.Sprintf("SELECT 1 FROM patients p WHERE p.id IN (SELECT 1 FROM %s WHERE %s IS NOT NULL UNION SELECT 2 FROM notes WHERE %s IS NOT NULL)", i, n, n),
				fmt.Sprintf("SELECT 1 FROM patients p JOIN LATERAL (SELECT 1 FROM %s WHERE %s IS NOT NULL) x ON true", i, n))
		}
	}
	return out
}

// TestOneBindingDifferential: the encryption planner and the access
// rewriter bind every column name of a corpus the same way, one binder
// (bind_columns.go) over each reader's own query levels: where both are
// sure of the item a name binds to, it is the same item (by name) at the
// same number of levels out. The planner walks only statements over a
// protected table, and the access rewriter only up to a refusal; names
// both saw are compared.
func TestOneBindingDifferential(t *testing.T) {
	pol := loadAccessPolicy(t)
	role, _ := pol.Role("clinician")
	objs := anyTable{newFakeObjects()}
	type key struct {
		sql string
		loc int32
	}
	seen := map[string]map[key][]bindingEvent{"planner": {}, "access": {}}
	var current string
	bindingTrace = func(e bindingEvent) {
		k := key{current, e.location}
		seen[e.reader][k] = append(seen[e.reader][k], e)
	}
	defer func() { bindingTrace = nil }()
	corpus := bindingCorpus(t)
	for _, sql := range corpus {
		current = sql
		a := Analyze(sql)
		PlanFor(a, pol)
		AccessFor(sql, a, pol, role, objs, false)
	}
	compared, disagreed := 0, 0
	for k, pe := range seen["planner"] {
		p, pok := sureOutcome(pe)
		a, aok := sureOutcome(seen["access"][k])
		if !pok || !aok {
			continue
		}
		compared++
		if p != a {
			disagreed++
			if disagreed <= 20 {
				t.Errorf("%s\n  at %d (%q): planner %+v, access %+v", k.sql, k.loc, nameAt(k.sql, k.loc), p, a)
			}
		}
	}
	t.Logf("%d statements; %d bindings compared, %d disagreed", len(corpus), compared, disagreed)
	if compared < 1000 {
		t.Errorf("only %d bindings compared: the corpus no longer exercises both readers", compared)
	}
}

// boundTo is where a reader bound a name.
type boundTo struct {
	item  string
	depth int
}

// sureOutcome is the item a reader bound a name to where it was sure of
// it. The planner binds some names more than once: a pass that plans a
// subquery's own filter (planner_subfilter.go) sees the subquery alone,
// where an outer name binds nothing; the pass that does bind it decides.
func sureOutcome(events []bindingEvent) (boundTo, bool) {
	var out boundTo
	found, unbound := false, false
	for _, e := range events {
		unbound = unbound || e.sure && !e.bound
		if !e.sure || !e.bound {
			continue
		}
		if found && (boundTo{e.item, e.depth}) != out {
			return boundTo{item: "(several)"}, true
		}
		out, found = boundTo{e.item, e.depth}, true
	}
	if !found && unbound {
		return boundTo{item: "(none)"}, true
	}
	return out, found
}

// nameAt is the name written at loc, for messages.
func nameAt(sql string, loc int32) string {
	rest := sql[loc:]
	if i := strings.IndexAny(rest, " ),="); i > 0 {
		rest = rest[:i]
	}
	return rest
}
