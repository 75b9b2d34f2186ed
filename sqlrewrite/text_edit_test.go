package sqlrewrite

import "testing"

func TestLiteralValue(t *testing.T) {
	for lit, want := range map[string]string{"'abc'": "abc", "'O''Brien'": "O'Brien", `'a\b'`: `a\b`, `'C:\dir\'`: `C:\dir\`, "''": "", "42": "42", "-1.5e3": "-1.5e3",
		`E'a\nb'`: "a\nb", "$$x'$$": "x'"} {
		got, ok := LiteralValue([]byte(lit))
		if !ok || string(got) != want {
			t.Errorf("%s: %q %v, want %q", lit, got, ok, want)
		}
	}
	for _, lit := range []string{"B'01'", `U&'\0061'`, `E'\xff'`, ""} {
		if _, ok := LiteralValue([]byte(lit)); ok {
			t.Errorf("%s: decoded, want refusal", lit)
		}
	}
}

func TestFitsList(t *testing.T) {
	for _, c := range []struct {
		sql  string
		form CompareForm
		want bool
	}{
		{"SELECT 1 FROM p WHERE ssn = 'x'", CompareEq, true},
		{"SELECT 1 FROM p WHERE ssn='x'", CompareEq, true},
		{"SELECT 1 FROM p WHERE ssn <> 'x'", CompareNe, true},
		{"SELECT 1 FROM p WHERE ssn != 'x'", CompareNe, true},
		{"SELECT 1 FROM p WHERE (ssn) = ('x')", CompareEq, false},
		{"SELECT 1 FROM p WHERE ssn IN ('x', 'y')", CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn NOT IN ( 'x' )", CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn in('x')", CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn IN (('x'))", CompareIn, false},
		{"SELECT 1 FROM p WHERE ssn IN ('a', ('x'))", CompareIn, false},
		{"SELECT 1 FROM p WHERE ssn IN ('a', 'x')", CompareIn, true},
		{"SELECT 1 FROM p WHERE ssn = 'x'", CompareIn, false},
	} {
		sp := LiteralSpans([]byte(c.sql))
		last := sp[len(sp)-1]
		if c.sql[last[0]] != '\'' {
			t.Fatalf("%s: last literal is %q", c.sql, c.sql[last[0]:last[1]])
		}
		if got := c.form.FitsList([]byte(c.sql), last); got != c.want {
			t.Errorf("%s (form %d): %v, want %v", c.sql, c.form, got, c.want)
		}
	}
}

// TestSpliceRefusesOverlaps: edits apply in text order whatever their
// order given, and two that overlap are refused, not merged.
func TestSpliceRefusesOverlaps(t *testing.T) {
	sql := []byte("SELECT 1 FROM p WHERE a = 'x' AND b = 'y'")
	out, ok := Splice(sql, []Edit{{Span: [2]int{38, 41}, Text: "'Y'"}, {Span: [2]int{26, 29}, Text: "'X'"}})
	if !ok || string(out) != "SELECT 1 FROM p WHERE a = 'X' AND b = 'Y'" {
		t.Fatalf("got %q %v", out, ok)
	}
	if _, ok := Splice(sql, []Edit{{Span: [2]int{26, 29}}, {Span: [2]int{28, 30}}}); ok {
		t.Fatal("overlapping edits were applied")
	}
	if out, ok := Splice(sql, nil); !ok || &out[0] != &sql[0] {
		t.Fatal("no edits should give the text itself")
	}
}

func TestCompareFormList(t *testing.T) {
	items := []string{"$1", "$3"}
	for f, want := range map[CompareForm]string{CompareEq: "ANY(ARRAY[$1,$3])", CompareNe: "ALL(ARRAY[$1,$3])", CompareIn: "$1,$3"} {
		if got := f.List(items); got != want {
			t.Errorf("form %d: %q, want %q", f, got, want)
		}
		if got := f.ParamList([]int{1, 3}); got != want {
			t.Errorf("form %d, parameters: %q, want %q", f, got, want)
		}
	}
}

func TestParamNumber(t *testing.T) {
	sql := []byte("SELECT $12, 'x', $")
	if n, ok := ParamNumber(sql, [2]int{7, 10}); !ok || n != 12 {
		t.Errorf("$12: %d %v", n, ok)
	}
	if _, ok := ParamNumber(sql, [2]int{12, 15}); ok {
		t.Error("a string read as a parameter")
	}
	if _, ok := ParamNumber(sql, [2]int{17, 18}); ok {
		t.Error("a bare $ read as a parameter")
	}
}
