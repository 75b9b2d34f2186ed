package guard

import (
	"testing"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

func TestNumberLiteral(t *testing.T) {
	col := func(typ string) *policy.ProtectedColumn {
		lt, err := policy.ParseType(typ)
		if err != nil {
			t.Fatal(err)
		}
		return &policy.ProtectedColumn{Name: "c", Type: lt}
	}
	for _, c := range []struct {
		typ, raw, plain string
		use             sqlrewrite.Use
		after           int
		want            string
		none            bool
	}{
		{"integer", "3.0", "3.0", sqlrewrite.UseWrite, 0, "3", false},
		{"integer", "2.5", "2.5", sqlrewrite.UseWrite, 0, "3", false},
		{"integer", "2.5", "-2.5", sqlrewrite.UseWrite, 0, "-3", false},
		{"integer", "2.4", "2.4", sqlrewrite.UseWrite, 0, "2", false},
		{"integer", "1e3", "1e3", sqlrewrite.UseCompare, 0, "1000", false},
		{"integer", "1.0", "1.0", sqlrewrite.UseCompare, 0, "1", false},
		{"integer", "1.5", "1.5", sqlrewrite.UseCompare, 0, "", true},
		{"integer", "1.5", "1.5", sqlrewrite.UseCompare, 6, "2", false}, // 1.5::int4
		{"integer", "10000000000", "10000000000", sqlrewrite.UseCompare, 0, "", true},
		{"bigint", "10000000000", "10000000000", sqlrewrite.UseCompare, 0, "10000000000", false},
		{"integer", "99999999999", "99999999999", sqlrewrite.UseWrite, 0, "99999999999", false}, // 22003 follows
		{"smallint", "40000", "40000", sqlrewrite.UseCompare, 0, "", true},
		{"integer", "'2.5'", "2.5", sqlrewrite.UseWrite, 0, "2.5", false}, // quoted: 22P02 follows
		{"numeric", "2.5", "2.5", sqlrewrite.UseWrite, 0, "2.5", false},
		{"numeric(14,2)", "5982.124", "5982.124", sqlrewrite.UseWrite, 0, "5982.124", false}, // rounded when stored
		{"numeric(14,2)", "5982.124", "5982.124", sqlrewrite.UseCompare, 0, "5982.124", true},
		{"numeric(14,2)", "'5982.124'", "5982.124", sqlrewrite.UseCompare, 0, "5982.124", true},
		{"numeric(14,2)", "5982.12000", "5982.12000", sqlrewrite.UseCompare, 0, "5982.12000", false},
		{"numeric(14,2)", "123456789012345.67", "123456789012345.67", sqlrewrite.UseCompare, 0, "123456789012345.67", true},
		{"numeric(14,2)", "99999999999.99", "-99999999999.99", sqlrewrite.UseCompare, 0, "-99999999999.99", false},
		{"text", "'999'", "999", sqlrewrite.UseCompare, 0, "999", false},
		{"text", "999", "999", sqlrewrite.UseWrite, 0, "999", false},
		{"text", "999", "999", sqlrewrite.UseCompare, 5, "999", false}, // 999::text
	} {
		v := sqlrewrite.ValueSlot{Column: col(c.typ), Use: c.use, After: c.after}
		got, none, pe := numberLiteral(v, []byte(c.raw), []byte(c.plain))
		if pe != nil || string(got) != c.want || none != c.none {
			t.Errorf("%s %s (%v, after %d): %q %v, want %q %v", c.typ, c.plain, c.use, c.after, got, none, c.want, c.none)
		}
	}
}

func TestNumberLiteralTypeErrors(t *testing.T) {
	for _, c := range []struct {
		typ  string
		use  sqlrewrite.Use
		code string
	}{
		{"text", sqlrewrite.UseCompare, "42883"},
		{"date", sqlrewrite.UseCompare, "42883"},
		{"date", sqlrewrite.UseWrite, "42804"},
		{"boolean", sqlrewrite.UseWrite, "42804"},
	} {
		lt, err := policy.ParseType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		v := sqlrewrite.ValueSlot{Column: &policy.ProtectedColumn{Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}, Name: "c", Type: lt}, Use: c.use}
		if _, _, pe := numberLiteral(v, []byte("999"), []byte("999")); pe == nil || string(pe.Code) != c.code {
			t.Errorf("%s %v: %v, want %s", c.typ, c.use, pe, c.code)
		}
	}
}
