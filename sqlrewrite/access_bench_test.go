package sqlrewrite

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkAccessCached is the per-statement cost of a row-rule rewrite
// once cached: what a session pays for each execution of a statement it
// has run before.
func BenchmarkAccessCached(b *testing.B) {
	pol := loadAccessPolicy(b)
	role, _ := pol.Role("clinician")
	objs := newFakeObjects()
	cache := NewAccessCache(1024, 1<<30)
	sql := "SELECT id, ssn, first, city FROM patients WHERE ssn = $1"
	a := Analyze(sql)
	if acc := cache.For(sql, a, pol, role, objs, false); !acc.Changed {
		b.Fatal("not rewritten")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cache.For(sql, a, pol, role, objs, false)
	}
}

// BenchmarkAccessRewrite is the cost of a first rewrite: parse, walk,
// inject, write the edited text and check it against the tree.
func BenchmarkAccessRewrite(b *testing.B) {
	pol := loadAccessPolicy(b)
	role, _ := pol.Role("clinician")
	objs := newFakeObjects()
	sql := "SELECT id, ssn, first, city FROM patients WHERE ssn = $1"
	a := Analyze(sql)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		AccessFor(sql, a, pol, role, objs, false)
	}
}

// BenchmarkAccessRewriteWrite is the first rewrite of an UPDATE: its
// condition guarded, its new value checked.
func BenchmarkAccessRewriteWrite(b *testing.B) {
	pol := loadAccessPolicy(b)
	role, _ := pol.Role("clinician")
	objs := newFakeObjects()
	sql := "UPDATE notes SET patient = $1, body = $2 WHERE id = $3 AND body LIKE $4"
	a := Analyze(sql)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		AccessFor(sql, a, pol, role, objs, false)
	}
}

// BenchmarkAccessRewriteLongValues is the first rewrite of a 1,000-row
// INSERT ... VALUES into a table with a row rule: a check in every row.
func BenchmarkAccessRewriteLongValues(b *testing.B) {
	pol := loadAccessPolicy(b)
	role, _ := pol.Role("clinician")
	objs := newFakeObjects()
	var sb strings.Builder
	sb.WriteString("INSERT INTO notes (id, patient, body) VALUES ")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "(%d, $1, 'note %d')", i, i)
	}
	sql := sb.String()
	a := Analyze(sql)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if acc := AccessFor(sql, a, pol, role, objs, false); !acc.Changed {
			b.Fatal("not rewritten")
		}
	}
}

// BenchmarkRestrictedNewStatement is what a restricted role's new
// statement costs from its text to its encryption plan: the rewrite, the
// analysis of the rewritten text (the rewrite's own check's parse,
// handed over), and the plan.
func BenchmarkRestrictedNewStatement(b *testing.B) {
	pol := loadAccessPolicy(b)
	role, _ := pol.Role("clinician")
	objs := newFakeObjects()
	for _, sql := range []string{
		"SELECT id, ssn, first, city FROM patients WHERE ssn = $1",
		"UPDATE notes SET patient = $1, body = $2 WHERE id = $3 AND body LIKE $4",
	} {
		b.Run(strings.Fields(sql)[0], func(b *testing.B) {
			a := Analyze(sql)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				acc := AccessFor(sql, a, pol, role, objs, false)
				written := acc.Analysis()
				if written == nil {
					b.Fatal("no analysis handed over")
				}
				PlanFor(written, pol)
			}
		})
	}
}
