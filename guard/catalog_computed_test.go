package guard

import (
	"strconv"
	"testing"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// computedCatalog is a catalog of a protected table public.p (id, s, g:
// g generated from s) among plain ones, whose columns are a, b and id;
// key is a function's OUT parameter.
func computedCatalog(computed bool) *catalog {
	b := newCatalogBuilder(nil)
	for _, n := range []string{"id", "s", "g", "a", "b"} {
		b.addColumnName([]byte(n))
	}
	b.addFuncOut([]byte("key")) // jsonb_each's OUT parameter
	p := policy.TableName{Schema: "public", Name: "p"}
	b.cat.tables[p] = []catalogColumn{{name: "id", attnum: 1}, {name: "s", attnum: 2}, {name: "g", attnum: 3, computed: computed}}
	b.noteTable(p, 100)
	b.cat.attnums[100] = map[int16]bool{1: true, 2: true, 3: true}
	b.cat.hasComputed = computed
	return b.cat
}

// TestUnknownColumnName: a statement naming a protected table that reads
// a column name no relation had at the read has the catalog read first
// (a generated column added since over an encrypted one); other
// statements, and names the statement defines, do not.
func TestUnknownColumnName(t *testing.T) {
	cat := computedCatalog(false)
	for sql, want := range map[string]string{
		"SELECT id FROM p WHERE n = 6":                                             "n",
		"SELECT id FROM other.p WHERE n = 6":                                       "",
		"SELECT id FROM q WHERE n = 6":                                             "",
		"SELECT id FROM p JOIN q USING (a) WHERE b = 1":                            "",
		"SELECT length(a) AS n FROM p ORDER BY n":                                  "",
		"DELETE FROM p WHERE n = 65":                                               "n",
		"UPDATE public.p SET id = 2 WHERE n = 65":                                  "n",
		"SELECT id FROM p NATURAL JOIN q":                                          "NATURAL JOIN",
		"WITH p AS (SELECT 1 AS k) SELECT n FROM p":                                "",
		"SELECT k FROM (SELECT 1 AS k) o WHERE EXISTS (SELECT FROM p WHERE n = 6)": "n",
		"SELECT id FROM p WHERE ctid = '(0,1)' AND tableoid > 0":                   "",
		"SELECT id FROM p, jsonb_each(b) WHERE key = 'k'":                          "",
		"SELECT id FROM p WHERE key = 'k'":                                         "key",
	} {
		if got := cat.unknownColumnName(sqlrewrite.Analyze(sql)); got != want {
			t.Errorf("%s: %q, want %q", sql, got, want)
		}
	}
}

// TestComputedRefusal: a statement reading a generated column computed
// from an encrypted one, or naturally joining its table, is refused; a
// result field of it too.
func TestComputedRefusal(t *testing.T) {
	for _, computed := range []bool{false, true} {
		cat := computedCatalog(computed)
		for sql, want := range map[string]bool{
			"SELECT id FROM p WHERE g = 6": true, "SELECT g FROM public.p": true, "SELECT id FROM p ORDER BY g": true,
			"SELECT id FROM p NATURAL JOIN q": true, "SELECT id FROM p JOIN q USING (g)": true,
			"SELECT * FROM p": false, "SELECT g FROM q": false, "SELECT g FROM other.p": false,
		} {
			if got := cat.computedRefusal(sqlrewrite.Analyze(sql)) != nil; got != (want && computed) {
				t.Errorf("computed %v: %s: refused %v", computed, sql, got)
			}
		}
		if got := cat.computedColumn(100, 3); (got != "") != computed {
			t.Errorf("computed %v: the field of g: %q", computed, got)
		}
		if cat.computedColumn(100, 2) != "" || cat.computedColumn(101, 3) != "" {
			t.Errorf("another field taken for g")
		}
	}
}

// BenchmarkUnknownColumnName: the check at each statement, on a catalog
// of 5,000 column names.
func BenchmarkUnknownColumnName(b *testing.B) {
	cat := computedCatalog(true)
	for i := range 5000 {
		cat.shared.attnames["column_"+strconv.Itoa(i)] = struct{}{}
	}
	for _, sql := range []string{"SELECT p.s, q.column_7 FROM p JOIN q ON q.column_8 = p.id WHERE p.id = $1 ORDER BY column_9",
		"SELECT column_1, column_2 FROM q WHERE column_3 = $1"} {
		a := sqlrewrite.Analyze(sql)
		b.Run(sql, func(b *testing.B) {
			for b.Loop() {
				if cat.unknownColumnName(a) != "" || cat.computedRefusal(a) != nil {
					b.Fatal("unknown")
				}
			}
		})
	}
}
