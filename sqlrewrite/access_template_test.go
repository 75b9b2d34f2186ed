package sqlrewrite

import (
	"fmt"
	"strings"
	"testing"
)

// TestTemplatesAgreeWithRewrites: for every statement form, texts that
// differ only in their literals get, through the cache's shared template,
// exactly what a rewrite of each text gives; and a number that ORDER BY
// reads as a position is never shared (it decides which column is sorted).
func TestTemplatesAgreeWithRewrites(t *testing.T) {
	pol := loadAccessPolicy(t)
	objs := newFakeObjects()
	forms := []struct {
		role, format string
		shared       bool
	}{
		{"clinician", "SELECT id, city FROM patients WHERE ssn = '%s' AND city <> 'x%s'", true},
		{"clinician", "SELECT p.id FROM patients p JOIN notes n ON n.patient = p.id WHERE n.id = %s LIMIT %s", true},
		{"clinician", "UPDATE patients SET city = '%s' WHERE id = '%s'", true},
		{"clinician", "DELETE FROM notes WHERE id = %s AND body LIKE '%s%%'", true},
		{"clinician", "INSERT INTO notes (id, patient, body) VALUES (%s, '00000000-0000-0000-0000-00000000000%s', 'x')", true},
		{"clinician", "SELECT count(*) FROM patients WHERE city IN ('%s', '%s') OR -%s < 0", true},
		{"billing", "SELECT ssn, first FROM patients WHERE first = '%s' ORDER BY %s", false},
		{"billing", "SELECT first, ssn FROM patients GROUP BY %s, %s", false},
		{"billing", "SELECT city, ssn FROM patients GROUP BY ROLLUP(%s, %s)", false},
		{"billing", "SELECT ssn FROM patients WHERE first = '%s%s'", true},
		{"billing", "SELECT body FROM notes WHERE id = %s%s", true},
	}
	values := [][2]string{{"1", "2"}, {"2", "1"}, {"17", "3"}, {"9", "42"}}
	for _, f := range forms {
		role, _ := pol.Role(f.role)
		cache := NewAccessCache(64, 1<<30)
		var tmpl *accessTemplate
		for _, v := range values {
			sql := fmt.Sprintf(f.format, v[0], v[1])
			got := cache.For(sql, Analyze(sql), pol, role, objs, false)
			want := AccessFor(sql, Analyze(sql), pol, role, objs, false)
			if !sameAccess(got, want) {
				t.Errorf("%s\n  cache: %q %v\n  rewrite: %q %v", sql, got.SQL, got.Refusal, want.SQL, want.Refusal)
			}
			if strings.Contains(got.SQL, placeholderPrefix) {
				t.Errorf("%s: a placeholder reached the text: %s", sql, got.SQL)
			}
			for _, e := range cache.templates.young {
				tt := e.v
				tmpl = tt
			}
		}
		if tmpl == nil || tmpl.shared != f.shared {
			t.Errorf("%s: template shared %v, want %v", f.format, tmpl != nil && tmpl.shared, f.shared)
		}
	}
}

// BenchmarkAccessNewLiteral is what a restricted role's statement costs
// when only its literal is new: a shape-template hit, no parse.
func BenchmarkAccessNewLiteral(b *testing.B) {
	pol := loadAccessPolicy(b)
	role, _ := pol.Role("clinician")
	objs := newFakeObjects()
	cache := NewAccessCache(1024, 1<<30)
	texts := make([]string, 4096)
	for i := range texts {
		texts[i] = fmt.Sprintf("SELECT id, ssn, first, city FROM patients WHERE ssn = '%09d'", i)
	}
	a := Analyze(texts[0])
	if acc := cache.For(texts[0], a, pol, role, objs, false); !acc.Changed {
		b.Fatal("not rewritten")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cache.For(texts[i%len(texts)], a, pol, role, objs, false)
	}
}
