package guard

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestJudgedRefusal: judgesQuery's rows over an encrypted column (s of
// public.p, OID 100, attnum 2), or a generated column computed from it
// (g), or a whole row of p, are kept, and refuse what they would judge:
// a CHECK the writes but DELETE, a policy every statement reading or
// writing its table, a plain one's (public.o) included. phiguard's own
// CHECKs of s, and those over plain columns only, are not kept.
func TestJudgedRefusal(t *testing.T) {
	pol, err := policy.Parse([]byte("version: 1\ntables:\n  public.p:\n    columns:\n      s: {mode: randomized, key: k, type: text}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := pol.Column("public", "p", "s")
	row := func(b *catalogBuilder, rel, kind, name, keys, def, whole string) {
		oid := map[string]string{"p": "100", "o": "200"}[rel]
		b.addJudge([][]byte{[]byte(oid), []byte("public"), []byte(rel), []byte(kind), []byte(name), []byte(keys), []byte(def), []byte(whole), nil})
	}
	cells := "CHECK (((s IS NULL) OR ((s COLLATE \"C\") ~ '" + cellcheck.Pattern + "'::text)))"
	terms := "CHECK (((s IS NULL) OR (\"left\"(s, 5) = '~phs~'::text)))"
	cases := []struct {
		kind, rel, name, keys, def, whole string
		refused                           map[string]bool // statement → refused
	}{
		{"c", "p", "len", "{2}", "", "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": true, "UPDATE public.p SET id = 1": true,
			"COPY p FROM STDIN": true, "DELETE FROM p": false, "SELECT s FROM p": false, "INSERT INTO other.p (s) VALUES ('a')": false,
			"WITH p AS (SELECT 1) SELECT * FROM p": false}},
		{"c", "p", "gen", "{3}", "", "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": true}},
		{"c", "p", "whole", "{0}", "", "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": true}},
		{"c", "p", "ids", "{1}", "", "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": false}},
		{"c", "p", cellcheck.Name(s), "{2}", cells, "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": false}},
		{"c", "p", search.CheckName(s), "{2}", terms, "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": false}},
		{"c", "p", cellcheck.Name(s), "{2}", "CHECK ((length(s) > 10))", "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": true}},
		{"c", "p", cellcheck.Name(s), "{1,2}", cells, "", map[string]bool{"INSERT INTO p (s) VALUES ('a')": true}},
		{"p", "p", "pol", "{100.2}", "", "f", map[string]bool{"SELECT count(*) FROM p": true, "DELETE FROM p": true,
			"INSERT INTO p (s) VALUES ('a')": true, "SELECT 1": false, "TRUNCATE p": false}},
		{"p", "o", "sub", "{200.1,100.1,100.2}", "", "f", map[string]bool{"SELECT * FROM o": true, "SELECT s FROM p": false}},
		{"p", "p", "wholepol", "", "", "t", map[string]bool{"SELECT id FROM p": true}},
		{"p", "o", "wholeplain", "", "", "t", map[string]bool{"SELECT id FROM o": false}},
		{"p", "p", "ids", "{100.1}", "", "f", map[string]bool{"SELECT id FROM p": false}},
	}
	for _, c := range cases {
		b := newCatalogBuilder(pol)
		p := policy.TableName{Schema: "public", Name: "p"}
		b.cat.tables[p] = []catalogColumn{{name: "id", attnum: 1}, {name: "s", attnum: 2, protected: s}, {name: "g", attnum: 3, computed: true}}
		b.noteTable(p, 100)
		b.cat.byOID[100] = map[int16]*policy.ProtectedColumn{2: s}
		row(b, c.rel, c.kind, c.name, c.keys, c.def, c.whole)
		for sql, want := range c.refused {
			pe := b.cat.judgedRefusal(sqlrewrite.Analyze(sql))
			if (pe != nil) != want {
				t.Errorf("%s %s %s: %q refused %v, want %v", c.kind, c.name, c.keys, sql, pe, want)
			}
			if pe != nil && !strings.Contains(pe.Message, c.name) {
				t.Errorf("%s: %q: the refusal does not name it: %v", c.name, sql, pe)
			}
		}
	}
}

// TestKeyJudges: judgesKeysQuery's rows. A unique index over the
// randomized s (public.p, OID 100, attnum 2) or an expression reading the
// deterministic d (attnum 4), an exclusion index over either, a FOREIGN
// KEY pairing s or d with a plain column (either way, a DELETE included)
// are kept and refuse writes; a unique index on d itself, a FOREIGN KEY
// between d and a column of d's key, and keys over plain columns are not
// kept. A 'g' row keeps the table's mark.
func TestKeyJudges(t *testing.T) {
	pol, err := policy.Parse([]byte("version: 1\ntables:\n  public.p:\n    columns:\n      s: {mode: randomized, key: k, type: text}\n" +
		"      d: {mode: deterministic, key: kd, type: text}\n  public.q:\n    columns:\n      e: {mode: deterministic, key: kd, type: text}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := pol.Column("public", "p", "s")
	d, _ := pol.Column("public", "p", "d")
	e, _ := pol.Column("public", "q", "e")
	ins, del := "INSERT INTO p (id) VALUES (1)", "DELETE FROM p"
	for _, c := range []struct {
		kind, name, keys, exprs, other string
		refused                        map[string]bool
	}{
		{"u", "us", "1 2", "", "", map[string]bool{ins: true, del: false, "SELECT s FROM p": false}},
		{"u", "ud", "4", "", "", map[string]bool{ins: false}},
		{"u", "uid", "1", "", "", map[string]bool{ins: false}},
		{"u", "uexpr", "1 0", "{1,4}", "", map[string]bool{ins: true}},
		{"x", "xd", "4", "", "", map[string]bool{ins: true}},
		{"f", "fs", "{2}", "{1}", "300", map[string]bool{ins: true, del: true}},
		{"f", "fd", "{4}", "{1}", "300", map[string]bool{ins: true, del: true}},
		{"f", "fplain", "{1}", "{1}", "300", map[string]bool{ins: false}},
		{"f", "fde", "{4}", "{1}", "200", map[string]bool{ins: false, del: false}},
		{"f", "fse", "{2}", "{1}", "200", map[string]bool{ins: true}},
	} {
		b := newCatalogBuilder(pol)
		p, q := policy.TableName{Schema: "public", Name: "p"}, policy.TableName{Schema: "public", Name: "q"}
		b.cat.tables[p] = []catalogColumn{{name: "id", attnum: 1}, {name: "s", attnum: 2, protected: s}, {name: "d", attnum: 4, protected: d}}
		b.cat.tables[q] = []catalogColumn{{name: "e", attnum: 1, protected: e}}
		b.noteTable(p, 100)
		b.noteTable(q, 200)
		b.cat.byOID[100] = map[int16]*policy.ProtectedColumn{2: s, 4: d}
		b.cat.byOID[200] = map[int16]*policy.ProtectedColumn{1: e}
		b.addJudge([][]byte{[]byte("100"), []byte("public"), []byte("p"), []byte(c.kind), []byte(c.name), []byte(c.keys),
			[]byte(c.exprs), nil, []byte(c.other)})
		for sql, want := range c.refused {
			pe := b.cat.judgedRefusal(sqlrewrite.Analyze(sql))
			if (pe != nil) != want {
				t.Errorf("%s %s: %q refused %v, want %v", c.kind, c.name, sql, pe, want)
			}
			if pe != nil && (!strings.Contains(pe.Message, c.name) || pe.Code != "0A000") {
				t.Errorf("%s: %q: the refusal does not name it: %v", c.name, sql, pe)
			}
		}
	}
	b := newCatalogBuilder(pol)
	b.addJudge([][]byte{[]byte("100"), []byte("public"), []byte("p"), []byte("g"), []byte("4711"), nil, nil, nil, nil})
	if b.cat.judgeMarks[100] != "4711" || len(b.cat.judges) != 0 {
		t.Errorf("mark %q, judges %v", b.cat.judgeMarks[100], b.cat.judges)
	}
}
