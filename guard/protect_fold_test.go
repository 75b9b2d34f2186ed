package guard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
	"github.com/phiguard/phiguard/internal/pgcollate"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/internal/race"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// foldCase is one generated case of TestILikeAgainstPostgres: the SQL
// PostgreSQL evaluates, and the Filter phiguard would plan for it.
type foldCase struct {
	sql    string
	filter sqlrewrite.Filter
	ctype  string // the LC_CTYPE probe's answer; c:C when empty
}

// foldCases are the shapes TestILikeAgainstPostgres compares: ILIKE and
// NOT ILIKE, LIKE and ILIKE on lower() or upper() of the value, of the
// pattern (its ESCAPE applies after the fold), under the database's
// default collation (C), explicit C and POSIX, and C.utf8 (verified as a
// login verifies it).
func foldCases(col *policy.ProtectedColumn) []foldCase {
	f := func(op sqlrewrite.FilterOp, colFold, patFold sqlrewrite.Fold) sqlrewrite.Filter {
		return sqlrewrite.Filter{Column: col, Op: op, ColumnFold: colFold, Ctype: 0, DefaultCtype: 0, Collation: -1, Encoding: -1,
			Args: [2]sqlrewrite.FilterArg{{Fold: patFold}}, HasEscape: true}
	}
	L, U, N := sqlrewrite.FoldLower, sqlrewrite.FoldUpper, sqlrewrite.FoldNone
	return []foldCase{
		{"$1::text ILIKE $2::text ESCAPE $3::text", f(sqlrewrite.FilterILike, N, N), ""},
		{`($1::text COLLATE "C") NOT ILIKE $2::text ESCAPE $3::text`, f(sqlrewrite.FilterNotILike, N, N), ""},
		{`($1::text COLLATE "POSIX") ILIKE $2::text ESCAPE $3::text`, f(sqlrewrite.FilterILike, N, N), ""},
		{"upper($1::text) LIKE $2::text ESCAPE $3::text", f(sqlrewrite.FilterLike, U, N), ""},
		{"lower($1::text) LIKE lower($2::text) ESCAPE $3::text", f(sqlrewrite.FilterLike, L, L), ""},
		{"$1::text LIKE upper($2::text) ESCAPE $3::text", f(sqlrewrite.FilterLike, N, U), ""},
		{"upper($1::text) ILIKE upper($2::text) ESCAPE $3::text", f(sqlrewrite.FilterILike, U, U), ""},
		{`($1::text COLLATE "C.utf8") ILIKE $2::text ESCAPE $3::text`, f(sqlrewrite.FilterILike, N, N), "c::C.utf8"},
		{`upper($1::text COLLATE "C.utf8") LIKE upper($2::text COLLATE "C.utf8") ESCAPE $3::text`, f(sqlrewrite.FilterLike, U, U), "c::C.utf8"},
		{`lower($1::text COLLATE "C.utf8") NOT ILIKE $2::text ESCAPE $3::text`, f(sqlrewrite.FilterNotILike, L, N), "c::C.utf8"},
	}
}

// phiguardMatch evaluates a case as the proxy does: the constants read,
// finished (ESCAPE) and folded under the case's LC_CTYPE (prepareFolds), the
// value folded (foldValue) and matched.
func phiguardMatch(fc foldCase, text, pattern, escape string) (bool, *pgerr.Error) {
	plan := &sqlrewrite.SortPlan{Filters: []sqlrewrite.Filter{fc.filter}}
	args := []filterArgs{{args: [2]filterArg{{pattern: []byte(pattern)}}, escape: []byte(escape), hasEscape: true}}
	if pe := finishFilterArgs(plan, args); pe != nil {
		return false, pe
	}
	run := &sortRun{plan: plan, filterArgs: args}
	probe := fc.ctype
	if probe == "" {
		probe = "c::C"
	}
	if pe := run.prepareFolds(0, [][]byte{[]byte(probe)}); pe != nil {
		return false, pe
	}
	k, _ := pgorder.Parse(textLogical, []byte(text))
	x, err := args[0].foldValue(sortValue{key: k}, &run.folded)
	if err != nil {
		return false, pgerr.New(pgerr.InternalError, err.Error())
	}
	match, pe := likeMatch(x.key.Text(), args[0].args[0].pattern)
	return match != fc.filter.Op.Not(), pe
}

// TestILikeAgainstPostgres: generated texts and patterns over an alphabet
// of both cases of ASCII letters, their ASCII neighbours, non-ASCII
// letters (which lower() under C leaves alone), wildcards and escapes,
// with ESCAPE characters of either case, matched by PostgreSQL 15 (a
// UTF8 database under C, and C.utf8) in each shape of foldCases and by phiguard:
// the answers, and the error of a pattern ending in its escape, agree.
func TestILikeAgainstPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	col := &policy.ProtectedColumn{Name: "name", Type: textLogical}
	cases := foldCases(col)
	r := rand.New(rand.NewPCG(22025, 1313))
	alphabet := []string{"a", "A", "s", "S", "z", "Z", "@", "[", "`", "{", "ü", "Ü", "ß", "İ", "ǅ", "%", "_", `\`, "!", "x", "X"}
	gen := func(max int) string {
		var b strings.Builder
		for range r.IntN(max + 1) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	matched, errs := 0, 0
	for i := range 4000 {
		fc := cases[i%len(cases)]
		text, pattern := gen(6), gen(5)
		if r.IntN(3) == 0 { // texts that the pattern's literals match, in another case
			text = strings.NewReplacer("%", "Ab", "_", "ü", `\`, "", "a", "A", "S", "s").Replace(pattern) + gen(2)
		}
		escape := []string{"", "!", `\`, "x", "X", "Ü"}[r.IntN(6)]
		res := conn.ExecParams(ctx, "SELECT "+fc.sql, [][]byte{[]byte(text), []byte(pattern), []byte(escape)}, nil, nil, nil).Read()
		var want *pgconn.PgError
		if res.Err != nil && !errors.As(res.Err, &want) {
			t.Fatal(res.Err)
		}
		got, pe := phiguardMatch(fc, text, pattern, escape)
		what := fmt.Sprintf("%d: %s with %q, %q, ESCAPE %q", i, fc.sql, text, pattern, escape)
		switch {
		case want != nil:
			errs++
			if pe == nil || string(pe.Code) != want.Code || pe.Message != want.Message {
				t.Fatalf("%s: PostgreSQL %v, phiguard %v %v", what, want, got, pe)
			}
		case pe != nil || got != (string(res.Rows[0][0]) == "t"):
			t.Fatalf("%s: PostgreSQL %s, phiguard %v %v", what, res.Rows[0][0], got, pe)
		case got:
			matched++
		}
	}
	t.Logf("4000 cases: %d true, %d errors, the rest false", matched, errs)
	if matched < 600 || errs < 20 {
		t.Fatalf("the cases are not varied enough: %d true, %d errors", matched, errs)
	}
}

// TestCaseMapsAgainstPostgres: lower() and upper() under C of every
// ASCII character and a sample of non-ASCII ones agree with asciiLower
// and asciiUpper.
func TestCaseMapsAgainstPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	var b strings.Builder
	for c := rune(1); c < 0x250; c++ {
		b.WriteRune(c)
	}
	b.WriteString("ẞİıǅΣσςДдﬀ😀")
	s := b.String()
	for _, collate := range []string{"", ` COLLATE "C"`, ` COLLATE "POSIX"`} {
		res := conn.ExecParams(ctx, "SELECT lower($1::text"+collate+"), upper($1::text"+collate+")", [][]byte{[]byte(s)}, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if got := asciiLower(new([]byte), []byte(s)); string(got) != string(res.Rows[0][0]) {
			t.Errorf("lower()%s differs from asciiLower", collate)
		}
		if got := asciiUpper(new([]byte), []byte(s)); string(got) != string(res.Rows[0][1]) {
			t.Errorf("upper()%s differs from asciiUpper", collate)
		}
	}
	if in := []byte("aBc"); string(asciiUpper(new([]byte), in)) != "ABC" || string(in) != "aBc" {
		t.Fatal("asciiUpper wrote into its argument or did not map")
	}
}

// TestCaseMapsFor: caseMapsFor folds under C and POSIX, and under a libc
// locale installed here whose version is this C library's (none, for
// C.utf8, as PostgreSQL reports it); not under ICU, another C library's
// version, a missing locale or an unreadable probe.
func TestCaseMapsFor(t *testing.T) {
	v := pgcollate.Version()
	for probe, want := range map[string]bool{"c::C": true, "c::POSIX": true, "c::C.utf8": true, "c:" + v + ":C.utf8": true,
		"c:0.0:C.utf8": false, "c::zz_TEST.utf8": false, "i:153.14:und": false, "i::und": false, "c:C": false, "": false} {
		if _, ok := caseMapsFor([]byte(probe)); ok != want {
			t.Errorf("caseMapsFor(%q): %v, want %v", probe, ok, want)
		}
	}
	maps, _ := caseMapsFor([]byte("c::C.utf8"))
	if got := maps[sqlrewrite.FoldLower](new([]byte), []byte("ÖLZ İ ǅ")); string(got) != "ölz i̇ ǆ" && string(got) != "ölz i ǆ" {
		t.Errorf("lower under C.utf8: %q", got)
	}
	if got := maps[sqlrewrite.FoldLower](new([]byte), []byte("a\xffB")); string(got) != "a\xffB" {
		t.Errorf("lower of invalid UTF-8: %q, want it unchanged", got)
	}
}

// TestFoldValueReusesBuffers: a row's value is folded into the run's
// buffers, never into the value itself, and a fold of each row's value
// allocates nothing once the buffers have grown; an unchanged value is
// the value itself.
func TestFoldValueReusesBuffers(t *testing.T) {
	fa := &filterArgs{colFold: asciiUpper, ilike: asciiLower}
	var bufs [2][]byte
	for _, c := range []struct{ in, want string }{{"Gleason0", "gleason0"}, {"ABC", "abc"}, {"müller", "müller"}, {"", ""}} {
		in := []byte(c.in)
		k, _ := pgorder.Parse(textLogical, in)
		x, err := fa.foldValue(sortValue{key: k}, &bufs)
		if err != nil || string(x.key.Text()) != c.want || string(in) != c.in {
			t.Fatalf("%q folded to %q (%v), value now %q", c.in, x.key.Text(), err, in)
		}
	}
	k, _ := pgorder.Parse(textLogical, []byte("Gleason0"))
	n := testing.AllocsPerRun(10, func() {
		if x, _ := fa.foldValue(sortValue{key: k}, &bufs); string(x.key.Text()) != "gleason0" {
			t.Fatal("a fold went wrong")
		}
	})
	if n != 0 && !race.Enabled {
		t.Fatalf("%v allocations to fold a value, want 0", n)
	}
	only := &filterArgs{ilike: asciiLower}
	in := []byte("lower")
	k, _ = pgorder.Parse(textLogical, in)
	if x, _ := only.foldValue(sortValue{key: k}, &bufs); &x.key.Text()[0] != &in[0] {
		t.Fatal("a value no map changes was copied")
	}
}
