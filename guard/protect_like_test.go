package guard

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
)

// TestLikeAgainstPostgres: generated texts and patterns over an alphabet
// of wildcards, escapes and multi-byte characters, with and without an
// ESCAPE, matched by PostgreSQL 15 (a UTF8 database) and by likeMatch on
// the pattern like_escape gives: the answers, and the error for a
// pattern ending in its escape, agree.
func TestLikeAgainstPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	r := rand.New(rand.NewPCG(22025, 13))
	alphabet := []string{"a", "b", "ü", "Ö", "€", "%", "_", `\`, "!", "a"}
	gen := func(max int) string {
		var b strings.Builder
		for range r.IntN(max + 1) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	matched, errs := 0, 0
	for i := range 3000 {
		text, pattern := gen(6), gen(5)
		if r.IntN(3) == 0 { // texts that the pattern's literals match
			text = strings.NewReplacer("%", "ab", "_", "ü", `\`, "").Replace(pattern) + gen(2)
		}
		escape := []string{"", "!", `\`, "ü", "none"}[r.IntN(5)]
		sql := "SELECT $1::text LIKE $2::text ESCAPE $3::text, pg_catalog.like_escape($2::text, $3::text)"
		params := [][]byte{[]byte(text), []byte(pattern), []byte(escape)}
		if escape == "none" {
			sql = "SELECT $1::text LIKE $2::text, $2::text"
			params = params[:2]
		}
		res := conn.ExecParams(ctx, sql, params, nil, nil, nil).Read()
		var want *pgconn.PgError
		if res.Err != nil && !errors.As(res.Err, &want) {
			t.Fatal(res.Err)
		}
		var backslashed []byte
		if res.Err == nil {
			backslashed = res.Rows[0][1]
		} else if escape != "none" { // the row's pattern, to match it too
			res2 := conn.ExecParams(ctx, "SELECT pg_catalog.like_escape($1::text, $2::text)", params[1:], nil, nil, nil).Read()
			if res2.Err != nil {
				continue // an ESCAPE PostgreSQL rejects before any row
			}
			backslashed = res2.Rows[0][0]
		} else {
			backslashed = []byte(pattern)
		}
		got, pe := likeMatch([]byte(text), backslashed)
		switch {
		case want != nil:
			errs++
			if pe == nil || string(pe.Code) != want.Code || pe.Message != want.Message {
				t.Fatalf("%d: %q LIKE %q ESCAPE %q: PostgreSQL %v, likeMatch %v %v", i, text, pattern, escape, want, got, pe)
			}
		case pe != nil || got != (string(res.Rows[0][0]) == "t"):
			t.Fatalf("%d: %q LIKE %q ESCAPE %q: PostgreSQL %s, likeMatch %v %v", i, text, pattern, escape, res.Rows[0][0], got, pe)
		case got:
			matched++
		}
	}
	t.Logf("3000 cases: %d match, %d errors, the rest do not match", matched, errs)
	if matched < 300 || errs < 10 {
		t.Fatalf("the cases are not varied enough: %d match, %d errors", matched, errs)
	}
}
