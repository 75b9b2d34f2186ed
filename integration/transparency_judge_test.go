package integration

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestTransparencyJudge: the comparison finds each kind of difference the
// transparency check must fail on, and no other.
func TestTransparencyJudge(t *testing.T) {
	t.Parallel()
	base := tpResult{fields: []string{"a oid 1082 typmod -1 size 4 format 0"}, tag: "SELECT 2", rows: [][]string{{"1"}, {"2"}}}
	with := func(f func(*tpResult)) tpResult {
		r := base
		r.rows = append([][]string(nil), base.rows...)
		f(&r)
		return r
	}
	pgErr := func(code string) error { return &pgconn.PgError{Code: code, File: "x.c", Routine: "x"} }
	for _, c := range []struct {
		name, sql string
		a, b      tpResult
		differ    bool
	}{
		{"same", "SELECT a FROM t", base, base, false},
		{"other order, no ORDER BY", "SELECT a FROM t", with(func(r *tpResult) { r.rows[0], r.rows[1] = r.rows[1], r.rows[0] }), base, false},
		{"other order under ORDER BY", "SELECT a FROM t ORDER BY b", with(func(r *tpResult) { r.rows[0], r.rows[1] = r.rows[1], r.rows[0] }), base, true},
		{"other value", "SELECT a FROM t", with(func(r *tpResult) { r.rows[1] = []string{"3"} }), base, true},
		{"other type", "SELECT a FROM t", with(func(r *tpResult) { r.fields = []string{"a oid 25 typmod -1 size -1 format 0"} }), base, true},
		{"other tag", "SELECT a FROM t", with(func(r *tpResult) { r.tag = "SELECT 3" }), base, true},
		{"same SQLSTATE", "SELECT a FROM t", tpResult{err: pgErr("22003")}, tpResult{err: pgErr("22003")}, false},
		{"other SQLSTATE", "SELECT a FROM t", tpResult{err: pgErr("22P02")}, tpResult{err: pgErr("22003")}, true},
		{"error where rows", "SELECT a FROM t", tpResult{err: pgErr("22P02")}, base, true},
		{"client error", "SELECT a FROM t", tpResult{err: errors.New("x")}, base, true},
	} {
		if got := diffTP(c.sql, c.a, c.b); (got != "") != c.differ {
			t.Errorf("%s: difference %q, want one: %v", c.name, got, c.differ)
		}
	}
	for msg, want := range map[string]string{
		"column public.patients.first is encrypted (randomized): function lower() cannot run on it through phiguard": "function call (randomized)",
		"table public.patients has encrypted columns: COPY (query) is not supported on it through phiguard":          "COPY (query) (table)",
		"public.patient_summary is a view that reads encrypted columns: phiguard cannot decrypt what it returns":     "reading a view over encrypted columns",
	} {
		if got := refusedConstruct(msg); got != want {
			t.Errorf("refusedConstruct(%q) = %q, want %q", msg, got, want)
		}
	}
}
